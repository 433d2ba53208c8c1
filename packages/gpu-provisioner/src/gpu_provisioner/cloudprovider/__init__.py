"""The seam between the lifecycle controllers and a cloud: Karpenter's CloudProvider contract.

Controllers only know :class:`~gpu_provisioner.cloudprovider.types.CloudProvider`, the claim and
instance value types and the typed errors; a cloud (Azure here, a fake in tests) implements it.
Metrics wrap the seam as a decorator (:mod:`gpu_provisioner.cloudprovider.metrics`). Pure: no
cloud SDK and no Kubernetes client is imported below this package.
"""
