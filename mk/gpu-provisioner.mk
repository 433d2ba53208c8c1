# gpu-provisioner (packages/gpu-provisioner).
#   make bench-provisioner                                  # 200 claims, 0 s and 30 s creates
#   make bench-provisioner BENCH_PROVISIONER_ARGS="--claims 50 --create-seconds 0"
.PHONY: bench-provisioner gpu-provisioner-test

BENCH_PROVISIONER_ARGS ?=

bench-provisioner: localcluster-build
	$(UV) run python packages/gpu-provisioner/bench/bench_provisioner.py $(BENCH_PROVISIONER_ARGS)

gpu-provisioner-test:
	$(UV) run pytest packages/gpu-provisioner
