# Local Azure (ARM) emulator for AKS agent pools (e2e/, package aks_emulator; see e2e/README.md).
# The base URL goes to stdout; the CA certificate path and the admin URL to stderr.
#   make aks-emulator                                   # free port, no node join
#   make aks-emulator AKS_EMULATOR_PORT=8443 AKS_EMULATOR_KUBECONFIG=$$(make -s cluster)
#   make aks-emulator AKS_EMULATOR_ARGS="--faults faults.yaml --create-seconds 30"
.PHONY: aks-emulator

AKS_EMULATOR_PORT ?= 0
# Nodes are joined only into a cluster named here (never implicitly from $KUBECONFIG).
AKS_EMULATOR_KUBECONFIG ?=
AKS_EMULATOR_TLS_DIR ?= .cache/aks-emulator
AKS_EMULATOR_ARGS ?=

aks-emulator:
	$(UV) run python -m aks_emulator --port $(AKS_EMULATOR_PORT) --tls-dir $(AKS_EMULATOR_TLS_DIR) \
		$(if $(AKS_EMULATOR_KUBECONFIG),--kubeconfig $(AKS_EMULATOR_KUBECONFIG)) $(AKS_EMULATOR_ARGS)
