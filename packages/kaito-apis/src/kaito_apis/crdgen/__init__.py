"""Generate the CustomResourceDefinitions in crds/ from the typed API models.

The models are the single source of truth: ``make crds`` rewrites the YAML files, and a test
fails when the committed files differ from what the models generate. Generation is pure and
deterministic: same models, byte-identical YAML.
"""

from kaito_apis.crdgen._crds import CRD_FILES, all_crds, render

__all__ = ["CRD_FILES", "all_crds", "render"]
