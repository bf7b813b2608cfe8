# virtswitch — see README.md. Tests need root (network namespaces) and the
# Debian packages `make deps` installs (make test and make demo run it first).
GO      ?= go
BIN     ?= bin
GOFLAGS_BUILD = -trimpath
export CGO_ENABLED ?= 0

.PHONY: all build deps test lint demo clean

all: build

build:
	mkdir -p $(BIN)
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/virtswitchd ./dbusd
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/virtswitch-hook ./hookbin
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/virtswitchctl ./virtswitchctl

# Debian packages `make test` and `make demo` need; a fresh Debian 12 with Go
# has none of them (.ci/run installs through `make deps` too):
#   gcc, libc6-dev: cgo, which -race needs
#   dbus: dbus-daemon (testenv.StartBus, the demo); iproute2: ip; util-linux
#   libvirt-daemon, libvirt-daemon-driver-qemu, qemu-system-x86: private
#     libvirtd instances (testenv.StartLibvirtd) for libvirtconn, adopt, dbusd
#   libvirt-clients: virsh; libxml2-utils: xmllint
#   prometheus: promtool checks the metrics exposition (dbusd, virtswitchctl)
#   openvswitch-switch: plumb and vswitch run their own ovsdb-server and
#     ovs-vswitchd (userspace datapath)
DEB_PKGS = gcc libc6-dev dbus iproute2 util-linux libvirt-daemon libvirt-daemon-driver-qemu \
	qemu-system-x86 libvirt-clients libxml2-utils prometheus openvswitch-switch

# Installs the missing DEB_PKGS (root on Debian); elsewhere it says what is
# missing and goes on (the tests that need a tool then skip, saying why).
deps:
	@command -v dpkg-query >/dev/null 2>&1 || { echo "deps: not Debian; the tests need: $(DEB_PKGS)"; exit 0; }; \
	missing=; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" != 0 ]; then echo "deps: missing Debian packages:$$missing (run 'make deps' as root)"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null

# testenv/gotest runs go test and ends with the tests that skipped and why.
test: deps
	CGO_ENABLED=1 GO=$(GO) $(GO) run ./testenv/gotest -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The demo uses the binaries `build` just made (one build, not two).
demo: deps build
	VSW_BIN=$(abspath $(BIN)) ./demo/demo.sh

clean:
	rm -rf $(BIN)

# Targets owned by their folders.
-include packaging/packaging.mk
-include e2e/e2e.mk
-include bench/bench.mk
