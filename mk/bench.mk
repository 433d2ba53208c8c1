# Benchmarks print figures; they are not tests. BENCH_N=1000 for the large run.
BENCH_N ?= 100
.PHONY: bench-workspace
bench-workspace: sync localcluster-build
	$(UV) run python tools/bench/bench_workspace.py --count $(BENCH_N)
