# Helm charts (charts/workspace-controller, charts/gpu-provisioner; tests in tests/charts).
#   make charts        # regenerate the charts' generated files (CRDs, admission policy, tuning defaults)
#   make charts-check  # fail when they differ from what the code generates
.PHONY: charts charts-check

charts: crds
	$(UV) run python tools/charts/generate.py

charts-check: sync
	$(UV) run python tools/charts/generate.py --check
