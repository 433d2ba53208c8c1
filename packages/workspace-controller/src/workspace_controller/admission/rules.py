"""The admission rules that need the preset catalog, named once for the policy and its mirror.

Two implementations enforce these rules: the ValidatingAdmissionPolicy (CEL, in the API server,
built by :mod:`.policies`) and :func:`~.checking.admission_violations` (Python, in the reconciler,
for Workspaces that reached the cluster while the policy was missing). Both list the rules in the
order of :class:`AdmissionRule`; the API server reports only the *first* failing validation of a
policy, so the order decides which problem a user sees first, and the Python mirror keeps it so the
two can be compared message for message.

Everything that needs no catalog (exactly one of inference or tuning, preset xor template, tuning
on one node, URL shapes, immutability) is a CEL rule of the CRD itself and is not repeated here.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Final

import preset_catalog
from kaito_apis.workspace import constants

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ANNOTATION_VALUES",
    "BYPASS_HINT",
    "INSTANCE_TYPE_LIST_HINT",
    "MODEL_ID_HINT",
    "PRESET_LIST_HINT",
    "RESERVED_SELECTOR_KEYS",
    "AdmissionCode",
    "AdmissionRule",
    "AdmissionViolation",
]


class AdmissionRule(enum.StrEnum):
    """The policy's validations, in evaluation order (the API server reports the first failure)."""

    ANNOTATION_VALUES = "annotation-values"
    PRESET_KNOWN = "preset-known"
    PRESET_NOT_DEPRECATED = "preset-not-deprecated"
    INSTANCE_TYPE_KNOWN = "instance-type-known"
    TUNING_METHOD_SUPPORTED = "tuning-method-supported"
    RUNTIME_SUPPORTED = "runtime-supported"
    ADAPTERS_SUPPORTED = "adapters-supported"
    SELECTOR_NOT_RESERVED = "selector-not-reserved"
    GPU_FIT = "gpu-fit"
    """The only rule the annotation kaito.sh/bypass-resource-checks switches off."""


class AdmissionCode(enum.StrEnum):
    """Codes of the findings :func:`preset_catalog.check_fit` does not make (CamelCase reasons)."""

    INVALID_ANNOTATION = "InvalidAnnotation"
    UNKNOWN_PRESET = "UnknownPreset"
    UNKNOWN_INSTANCE_TYPE = "UnknownInstanceType"
    RESERVED_SELECTOR_LABELS = "ReservedSelectorLabels"


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdmissionViolation:
    """One reason the admission policy rejects (or would have rejected) a Workspace."""

    rule: AdmissionRule
    code: preset_catalog.ViolationCode | AdmissionCode
    """Stable, CamelCase: usable as a condition reason or a metric label."""
    message: str
    field: str

    @property
    def bypassable(self) -> bool:
        """Whether the annotation kaito.sh/bypass-resource-checks lets it through."""
        return self.rule is AdmissionRule.GPU_FIT

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


# Allowed values of the annotations a user sets to switch behaviour (kaito-workspace.md §1.5).
ANNOTATION_VALUES: Final[Mapping[str, tuple[str, ...]]] = {
    constants.ANNOTATION_RUNTIME: tuple(preset_catalog.Runtime),
    constants.ANNOTATION_NODE_IMAGE_FAMILY: ("ubuntu", "azurelinux"),
    constants.ANNOTATION_PERFORMANCE_MODE: ("balanced", "interactivity", "throughput"),
    constants.ANNOTATION_USE_LOCAL_WEIGHTS: ("true", "false"),
}

RESERVED_SELECTOR_KEYS: Final = tuple(sorted(constants.RESERVED_SELECTOR_KEYS))

PRESET_LIST_HINT: Final = "`python -m preset_catalog list` shows every preset"
MODEL_ID_HINT: Final = (
    "Hugging Face model ids are accepted only where the catalog lists them as an alias of a preset"
)
INSTANCE_TYPE_LIST_HINT: Final = (
    "`python -m preset_catalog list --instance-types` shows every supported instance type"
)
BYPASS_HINT: Final = (
    f"(the annotation {constants.ANNOTATION_BYPASS_RESOURCE_CHECKS} skips this check)"
)
