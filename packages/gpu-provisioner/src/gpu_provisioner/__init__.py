"""gpu-provisioner: a Karpenter-compatible provider that turns Machines and NodeClaims into AKS
agent pools (one pool of one node per claim).

Layers (import-linted): ``main`` → ``app`` (wiring) → ``controllers`` | ``azure`` (siblings that
never import each other) → ``cloudprovider`` (the seam: Protocol, value types, typed errors).
"""
