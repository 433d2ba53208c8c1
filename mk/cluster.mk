# Local Kubernetes control plane (tools/localcluster, packages/localcluster, docs/localcluster.md).
# `export KUBECONFIG=$$(make -s cluster)`: build output and progress go to stderr, the path to stdout.
.PHONY: localcluster-build cluster cluster-down bench-cluster

localcluster-build:
	tools/localcluster/build.sh

cluster: localcluster-build
	@$(UV) run python -m localcluster up

cluster-down:
	@$(UV) run python -m localcluster down

# BENCH_ARGS=--cold-build to time a fresh build into an empty temporary cache
bench-cluster: localcluster-build
	$(UV) run python tools/localcluster/bench.py $(BENCH_ARGS)
