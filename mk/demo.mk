# The README's first command. Until the charts and controllers land (see README "Status"), the demo
# starts the local control plane, installs the CRDs, applies the seed's quick-start Workspace and
# shows it with kubectl, so the API (schema, CEL rules, printer columns) can be tried for real.
include tools/localcluster/versions.env
KUBECTL ?= .cache/bin/kubectl-$(KUBECTL_VERSION)/kubectl
SEED ?= examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml

.PHONY: demo demo-down
demo: sync localcluster-build
	@set -e; kubeconfig=$$($(UV) run python -m localcluster up); \
	k() { $(KUBECTL) --kubeconfig "$$kubeconfig" "$$@"; }; \
	k apply --server-side -f crds/ >/dev/null; \
	k wait --for=condition=Established crd --all --timeout=60s >/dev/null; \
	k apply -f $(SEED); \
	echo "\$$ kubectl get workspace"; k get workspace; \
	echo; echo "KUBECONFIG=$$kubeconfig  (make demo-down stops the cluster)"

demo-down: cluster-down
