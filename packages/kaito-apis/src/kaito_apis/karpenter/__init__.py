"""Karpenter's node-claim APIs, as both controllers see them: Machine (v1alpha5) and NodeClaim (v1).

Pure data, no I/O. These are the only objects the workspace-controller and a node provider
exchange, so their schemas follow upstream Karpenter's field names, types, required fields and
enum values: objects written by upstream clients validate against our CRDs, and ours against theirs.
"""

from kaito_apis.karpenter import constants, v1, v1alpha5

__all__ = ["constants", "v1", "v1alpha5"]
