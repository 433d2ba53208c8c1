"""Building blocks shared by every API model: the camelCase base model and Kubernetes core types.

Pure data, no I/O. Python attributes are snake_case; the wire (and the generated CRD schema) is
camelCase, exactly as the Kubernetes API conventions and upstream CRDs spell it. Fields whose wire
name is not the plain camelCase of the attribute (``providerID``) carry an explicit alias.

Models attach Kubernetes-only schema keys through ``json_schema_extra`` (field-level CEL rules via
:func:`cel`, ``x-kubernetes-*`` markers) and ``__kube_rules__`` (object-level CEL rules); the CRD
generator copies them verbatim.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import pydantic
from pydantic import alias_generators

if TYPE_CHECKING:
    import pydantic_core

__all__ = [
    "IMMUTABLE",
    "Condition",
    "ConditionStatus",
    "KubeModel",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "Quantity",
    "ResourceList",
    "Rule",
    "Schemaless",
    "Taint",
    "TaintEffect",
    "VolumeSource",
    "cel",
    "crd_default",
]

QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
)

Quantity = Annotated[
    int | str,
    pydantic.WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
"""A Kubernetes resource quantity (``16Gi``, ``1``, ``500m``): integer or string on the wire."""

ResourceList = dict[str, Quantity]

Schemaless = Annotated[
    dict[str, Any],
    pydantic.WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""A core Kubernetes object (PodTemplateSpec) kept as-is; the API server and kubelet validate it
where it is used, as Kaito's CRD does for ``inference.template``."""

VolumeSource = Annotated[
    dict[str, Any],
    pydantic.WithJsonSchema(
        {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-map-type": "atomic",
        }
    ),
]
"""A core VolumeSource, kept as-is. Atomic: it is one of several volume types, so a server-side
apply that switches emptyDir to hostPath must replace it, not merge the two."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rule:
    """One CEL validation rule of a CRD schema (``x-kubernetes-validations`` entry).

    ``field_path`` (relative, e.g. ``.input``) makes the API server report the error on that field
    instead of on the object carrying the rule; ``reason`` picks the error type kubectl prints
    (``FieldValueRequired`` → "Required value", ``FieldValueForbidden`` → "Forbidden", ...).
    Rules that read ``oldSelf`` are transition rules: the API server checks them on update only.
    """

    rule: str
    message: str
    field_path: str | None = None
    reason: str | None = None

    def to_schema(self) -> dict[str, str]:
        entry = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            entry["fieldPath"] = self.field_path
        if self.reason is not None:
            entry["reason"] = self.reason
        return entry


def cel(*rules: Rule) -> dict[str, Any]:
    """Field-level CEL rules, for a field's ``json_schema_extra``."""
    return {"x-kubernetes-validations": [r.to_schema() for r in rules]}


IMMUTABLE = "self == oldSelf"
"""The CEL rule that makes a field immutable once set."""


def crd_default(value: Any) -> Any:
    """A field default that the CRD carries too, so the API server fills it in on write.

    Other Python defaults (``None``) stay out of the generated schema.
    """
    return pydantic.Field(default=value, json_schema_extra={"x-crd-default": True})


class KubeModel(pydantic.BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields rejected, immutable.

    Rejecting unknown fields catches typos in manifests and in our own builders; the API server
    itself prunes unknown fields, so objects read back from it always parse. A subclass lists its
    object-level CEL rules in ``__kube_rules__``; subclasses (v1beta1 over v1alpha1) add to their
    parents' rules rather than replace them.
    """

    __kube_rules__: ClassVar[tuple[Rule, ...]] = ()

    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: pydantic_core.CoreSchema, handler: pydantic.GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema = handler(core_schema)
        target = handler.resolve_ref_schema(json_schema)
        rules = [
            rule.to_schema()
            for klass in reversed(cls.__mro__)
            for rule in klass.__dict__.get("__kube_rules__", ())
        ]
        if rules:
            target["x-kubernetes-validations"] = rules
        return json_schema

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server wants it: camelCase keys, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObjectMeta(pydantic.BaseModel):
    """The subset of metadata the controllers read; everything else is kept untouched."""

    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
        frozen=True,
    )

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    deletion_timestamp: datetime.datetime | None = None
    creation_timestamp: datetime.datetime | None = None


class LabelSelectorRequirement(KubeModel):
    """One label match expression: a key related to values by an operator."""

    key: Annotated[str, pydantic.Field(max_length=316)]
    """The label key the expression applies to."""
    operator: Annotated[str, pydantic.Field(max_length=16)]
    """How the key relates to the values: In, NotIn, Exists or DoesNotExist."""
    values: (
        Annotated[
            list[Annotated[str, pydantic.Field(max_length=63)]], pydantic.Field(max_length=64)
        ]
        | None
    ) = None
    """The values to compare with; empty for Exists and DoesNotExist."""


class LabelSelector(KubeModel):
    """A Kubernetes label selector (metav1.LabelSelector)."""

    match_labels: dict[str, str] | None = None
    """Labels that must all be present with exactly these values."""
    match_expressions: (
        Annotated[list[LabelSelectorRequirement], pydantic.Field(max_length=32)] | None
    ) = None
    """Expressions that must all match; combined with matchLabels by AND."""


class TaintEffect(enum.StrEnum):
    """What a taint does to pods that do not tolerate it."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Taint(KubeModel):
    """A node taint (corev1.Taint)."""

    key: Annotated[str, pydantic.Field(min_length=1, pattern=QUALIFIED_NAME_PATTERN)]
    """The taint key placed on the node."""
    value: Annotated[str, pydantic.Field(pattern=QUALIFIED_NAME_PATTERN)] | None = None
    """The value paired with the key."""
    effect: TaintEffect
    """What the taint does to pods that do not tolerate it."""
    time_added: datetime.datetime | None = None
    """When the taint was added; only written for NoExecute taints."""


class ConditionStatus(enum.StrEnum):
    """The tri-state of a status condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(KubeModel):
    """A status condition (metav1.Condition): one aspect of the object's state."""

    type: Annotated[
        str,
        pydantic.Field(
            max_length=316,
            pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        ),
    ]
    """The aspect this condition describes, in CamelCase (ResourceReady, Launched, ...)."""
    status: ConditionStatus
    """Whether the aspect holds: True, False or Unknown."""
    reason: Annotated[
        str, pydantic.Field(max_length=1024, pattern=r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?|)$")
    ] = ""
    """A CamelCase machine-readable word for why the condition last changed."""
    message: Annotated[str, pydantic.Field(max_length=32768)] = ""
    """A human-readable explanation of the last change; may be empty."""
    last_transition_time: datetime.datetime
    """When the status last changed."""
    observed_generation: Annotated[int, pydantic.Field(ge=0)] | None = None
    """The metadata.generation the condition was computed from."""
