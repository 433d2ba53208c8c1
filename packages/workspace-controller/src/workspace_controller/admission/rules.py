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
    "ANNOTATION_MAX_NODES_PER_WORKSPACE",
    "ANNOTATION_VALUES",
    "BYPASS_HINT",
    "DEFAULT_MAX_NODES_PER_WORKSPACE",
    "ECHO_LIMIT",
    "INSTANCE_TYPE_LIST_HINT",
    "MODEL_ID_HINT",
    "NODE_COUNT_MESSAGE_TAIL",
    "PRESET_LIST_HINT",
    "RESERVED_SELECTOR_KEYS",
    "AdmissionCode",
    "AdmissionRule",
    "AdmissionViolation",
    "echo",
    "node_count_message",
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
    NODE_COUNT_LIMIT = "node-count-limit"
    """resource.count within the cluster's cap (global, or the namespace's annotation)."""
    GPU_FIT = "gpu-fit"
    """The only rule the annotation kaito.sh/bypass-resource-checks switches off."""


class AdmissionCode(enum.StrEnum):
    """Codes of the findings :func:`preset_catalog.check_fit` does not make (CamelCase reasons)."""

    INVALID_ANNOTATION = "InvalidAnnotation"
    UNKNOWN_PRESET = "UnknownPreset"
    UNKNOWN_INSTANCE_TYPE = "UnknownInstanceType"
    RESERVED_SELECTOR_LABELS = "ReservedSelectorLabels"
    TOO_MANY_NODES = "TooManyNodes"


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

DEFAULT_MAX_NODES_PER_WORKSPACE: Final = 10
"""The default cap on resource.count (chart value provisioning.maxNodesPerWorkspace): above every
node count the preset catalog needs (at most 3), well below the CRD's ceiling
(:data:`kaito_apis.workspace.constants.MAX_NODE_COUNT`)."""

ANNOTATION_MAX_NODES_PER_WORKSPACE: Final = "kaito.sh/max-nodes-per-workspace"
"""A Namespace annotation (a decimal number) that replaces the global cap for the Workspaces of
that namespace; namespaces are cluster-scoped, so only a cluster administrator can set it. A value
that is not a number of at most four digits is ignored (the global cap applies)."""


NODE_COUNT_MESSAGE_TAIL: Final = (
    " a Workspace may use here; a cluster administrator sets this limit (chart value "
    "provisioning.maxNodesPerWorkspace, or the namespace annotation "
    f"{ANNOTATION_MAX_NODES_PER_WORKSPACE})"
)


def node_count_message(count: int, limit: int) -> str:
    """The NODE_COUNT_LIMIT message (after the field), as the policy writes it too."""
    return f"{count} nodes requested, more than the {limit}{NODE_COUNT_MESSAGE_TAIL}"


ECHO_LIMIT: Final = 64
"""Characters of user input a message repeats; longer input is cut and marked with an ellipsis."""


def echo(text: str) -> str:
    """``text`` as a message repeats it: at most :data:`ECHO_LIMIT` characters, on one line.

    The policy's CEL does exactly this (:func:`.policies._echo`): the API server drops a message
    expression's result that is longer than 5 KiB or spans lines, and says "failed expression"
    instead.
    """
    short = text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + "\u2026"
    return short.replace("\n", " ").replace("\r", " ")
