# Performance benchmarks and the kill -9 torture (issue 8). Neither is part
# of `make test`: they take minutes to hours, need root and load the machine.
# Included from the Makefile; standalone: make -f bench/bench.mk bench
#
#   make bench                       hook latency, RSS, recovery (10,000 live guests), pool,
#                                    scheduler figures (bench-sched)
#   make bench BENCH_ITER=500 BENCH_RUNS=5 BENCH_LIVE=10000
#   make bench-e2e                   virsh start+destroy, virtswitch vs libvirt (libvirt as make e2e installs it)
#   make bench-migrate               live migration A<->B: virtswitch vs libvirt-native (issue 13), BENCH_ITER=10 round trips
#   make bench-adopt                 adoption window: define → Form B, p50/p99 over BENCH_ITER defines (issue 15)
#   make torture                     kill -9 storms, TRIALS=10 by default
#   make torture TRIALS=100
GO         ?= go
BENCH_ITER ?= 200
BENCH_RUNS ?= 5
BENCH_LIVE ?= 10000
TRIALS     ?= 10
VIRSH_ITER ?= 20

.PHONY: bench bench-daemon bench-sched bench-pool bench-e2e bench-adopt bench-migrate torture

bench: bench-daemon bench-sched bench-pool

bench-daemon:
	BENCH_ITER=$(BENCH_ITER) BENCH_RUNS=$(BENCH_RUNS) BENCH_LIVE=$(BENCH_LIVE) \
	  CGO_ENABLED=0 $(GO) test -tags bench -count=1 -run '^$$' -bench 'Daemon$$' -benchtime 1x -timeout 4h ./bench/

# Issue 14: start storm vs the bash hook; CheckDomain, Reserve and a
# /metrics scrape with BENCH_LIVE running guests.
bench-sched:
	BENCH_ITER=$(BENCH_ITER) BENCH_RUNS=$(BENCH_RUNS) BENCH_LIVE=$(BENCH_LIVE) \
	  CGO_ENABLED=0 $(GO) test -tags bench -count=1 -run '^$$' -bench 'DaemonScheduler' -benchtime 1x -timeout 4h ./bench/

bench-adopt:
	BENCH_ITER=$(BENCH_ITER) CGO_ENABLED=0 $(GO) test -tags bench -count=1 -run '^$$' -bench 'AdoptionWindow' -benchtime 1x -timeout 1h -v ./bench/

# Issue 13: the two-host rig of e2e/migrate.sh; 10 round trips per kind.
bench-migrate:
	BENCH_ITER=$(if $(filter command line,$(origin BENCH_ITER)),$(BENCH_ITER),10) bash bench/migrate-bench.sh

bench-pool:
	$(GO) test -run '^$$' -bench . -benchtime 0.5s -count 5 ./pool/

bench-e2e:
	BENCH_RUNS=$(BENCH_RUNS) BENCH_ITER=$(VIRSH_ITER) bash bench/virsh-bench.sh

torture:
	TRIALS=$(TRIALS) CGO_ENABLED=1 $(GO) test -tags torture -count=1 -run 'TestKillStorm' -timeout 12h -v ./torture/
