# The README's first command: the seed's quick start on the local control plane, end to end.
# kaito_stack (e2e/src/kaito_stack) starts the cluster, the AKS emulator, helm-installs both
# charts and runs both controllers as local processes under the charts' ServiceAccounts.
.PHONY: demo demo-down
demo: sync localcluster-build
	$(UV) run python -m kaito_stack up

demo-down: sync
	$(UV) run python -m kaito_stack down
