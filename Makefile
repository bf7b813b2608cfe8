# virtswitch — see README.md. Tests need root (network namespaces) and the
# packages .ci/run installs.
GO      ?= go
BIN     ?= bin
GOFLAGS_BUILD = -trimpath
export CGO_ENABLED ?= 0

.PHONY: all build test lint demo clean

all: build

build:
	mkdir -p $(BIN)
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/virtswitchd ./dbusd
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/virtswitch-hook ./hookbin
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/virtswitchctl ./virtswitchctl

# -race needs cgo. promtool (Debian's prometheus package) checks the
# metrics exposition; the Open vSwitch tests (plumb, vswitch) start their own
# ovsdb-server and ovs-vswitchd (openvswitch-switch). Both are installed here
# when missing (tests run as root).
test:
	@command -v promtool >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v ovs-vswitchd >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openvswitch-switch >/dev/null; }
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The demo uses the binaries `build` just made (one build, not two).
demo: build
	VSW_BIN=$(abspath $(BIN)) ./demo/demo.sh

clean:
	rm -rf $(BIN)

# Targets owned by their folders.
-include packaging/packaging.mk
-include e2e/e2e.mk
-include bench/bench.mk
