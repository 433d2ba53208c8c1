# gpu-provisioner (packages/gpu-provisioner).
#   make bench-provisioner                                  # 200 claims, 0 s and 30 s creates
#   make bench-provisioner BENCH_PROVISIONER_ARGS="--claims 50 --create-seconds 0"
#   make soak-provisioner                                   # 300 create-then-delete races
#   make soak-provisioner SOAK_CYCLES=1000
.PHONY: bench-provisioner gpu-provisioner-test soak-provisioner

BENCH_PROVISIONER_ARGS ?=

bench-provisioner: localcluster-build
	$(UV) run python packages/gpu-provisioner/bench/bench_provisioner.py $(BENCH_PROVISIONER_ARGS)

gpu-provisioner-test:
	$(UV) run pytest packages/gpu-provisioner

# The CI race test (tests/cluster/test_race.py) with many more cycles. Prints the cycles and the
# leaks; the provisioner's log of the run is kept in SOAK_LOG.
SOAK_CYCLES ?= 300
SOAK_LOG ?= .cache/soak-provisioner.log

soak-provisioner: localcluster-build
	@mkdir -p $(dir $(SOAK_LOG))
	GPU_PROVISIONER_RACE_CYCLES=$(SOAK_CYCLES) $(UV) run pytest -s -q \
	  packages/gpu-provisioner/tests/cluster/test_race.py >$(SOAK_LOG) 2>&1; \
	  status=$$?; grep -E '^race:|^[0-9]+ (passed|failed)|^E ' $(SOAK_LOG); exit $$status
