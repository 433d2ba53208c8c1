"""The Workspace API (group ``kaito.sh``): v1alpha1, v1beta1 (stored), and its constants.

Pure data, no I/O. ``v1beta1`` is what the controller reads and writes; ``v1alpha1`` exists so that
older Kaito manifests (the seed's quick start among them) keep applying unchanged.
"""

from kaito_apis.workspace import constants, v1alpha1, v1beta1

__all__ = ["constants", "v1alpha1", "v1beta1"]
