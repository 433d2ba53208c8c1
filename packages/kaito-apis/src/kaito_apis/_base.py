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
import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal

import pydantic
from pydantic import alias_generators

if TYPE_CHECKING:
    import pydantic_core

__all__ = [
    "ALLOWED_VOLUME_TYPES",
    "IMMUTABLE",
    "MAX_SELECTOR_LABELS",
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
    "label_key_problem",
    "label_value_problem",
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


# -- volume sources ------------------------------------------------------------------------------

ALLOWED_VOLUME_TYPES: Final = (
    "persistentVolumeClaim",
    "emptyDir",
    "ephemeral",
    "configMap",
    "secret",
    "csi",
    "azureDisk",
    "azureFile",
)
"""The volume types a Workspace may mount into the pods the controller writes: storage the
cluster provisions or the namespace owns. Nothing here reaches into the node."""

_FORBIDDEN_VOLUME_TYPES: Final = (
    "hostPath",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "cephfs",
    "fc",
    "flexVolume",
    "cinder",
    "flocker",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "scaleIO",
    "storageos",
    "downwardAPI",
    "projected",
    "image",
)
"""Every other volume type of the core VolumeSource (Kubernetes 1.36). They are declared in the
schema only so that the API server names them in its error instead of pruning them silently."""

_ALLOWED_TEXT: Final = ", ".join(ALLOWED_VOLUME_TYPES[:-1]) + " or " + ALLOWED_VOLUME_TYPES[-1]
VOLUME_SOURCE_ONE_TYPE_MESSAGE: Final = f"must set exactly one volume type: {_ALLOWED_TEXT}"


def _forbidden_volume_message(volume_type: str) -> str:
    return f"{volume_type} volumes are not allowed in a Workspace; use {_ALLOWED_TEXT}"


def _volume_source_schema() -> dict[str, Any]:
    allowed = {
        name: {
            "description": f"A core {name} volume source, validated where the pod is created.",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        for name in ALLOWED_VOLUME_TYPES
    }
    forbidden = {
        name: {
            "description": f"Not allowed: {name} volumes are rejected.",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            **cel(
                Rule(
                    rule="false",
                    message=_forbidden_volume_message(name),
                    reason="FieldValueForbidden",
                )
            ),
        }
        for name in _FORBIDDEN_VOLUME_TYPES
    }
    present = ", ".join(f"has(self.{n})" for n in (*ALLOWED_VOLUME_TYPES, *_FORBIDDEN_VOLUME_TYPES))
    return {
        "type": "object",
        "properties": {**allowed, **forbidden},
        "x-kubernetes-map-type": "atomic",
        **cel(
            Rule(
                rule=f"[{present}].filter(x, x).size() == 1",
                message=VOLUME_SOURCE_ONE_TYPE_MESSAGE,
            )
        ),
    }


def _check_volume_source(value: dict[str, Any]) -> dict[str, Any]:
    """The model's side of the schema's rules (the API server has pruned unknown types)."""
    if len(value) != 1:
        raise ValueError(VOLUME_SOURCE_ONE_TYPE_MESSAGE)
    ((volume_type, source),) = value.items()
    if volume_type not in ALLOWED_VOLUME_TYPES:
        raise ValueError(_forbidden_volume_message(volume_type))
    if not isinstance(source, dict):
        raise ValueError(f"{volume_type} must be an object")
    return value


VolumeSource = Annotated[
    dict[str, Any],
    pydantic.AfterValidator(_check_volume_source),
    pydantic.WithJsonSchema(_volume_source_schema()),
]
"""A core VolumeSource of one of :data:`ALLOWED_VOLUME_TYPES`, its content kept as-is (the API
server checks it when the controller creates the pod). hostPath and the other node-level or
network types are rejected with their field path. Atomic: a server-side apply that switches
emptyDir to persistentVolumeClaim must replace the source, not merge the two."""


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


# -- label selectors -----------------------------------------------------------------------------
# Kubernetes' label syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue), checked
# by the CRD so that a bad selector is rejected with its field path instead of failing later when
# the controller writes it onto a NodeClaim. The regular expressions avoid backslashes so that
# they read the same inside CEL string literals.

_LABEL_NAME = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = "[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_KEY_RE = f"^({_DNS_SUBDOMAIN}/)?{_LABEL_NAME}$"
_LABEL_VALUE_RE = f"^({_LABEL_NAME})?$"
_LABEL_KEY = re.compile(f"({_DNS_SUBDOMAIN}/)?{_LABEL_NAME}")
_LABEL_VALUE = re.compile(f"({_LABEL_NAME})?")
MAX_LABEL_PREFIX_LENGTH: Final = 253
MAX_SELECTOR_LABELS: Final = 32
"""matchLabels entries and matchExpressions items, each: a NodeClaim carries every selected label
as a requirement or label, and Karpenter allows 100 requirements."""

LABEL_KEY_MESSAGE: Final = (
    "must be a label key: an optional DNS subdomain prefix of at most 253 characters and '/', "
    "then a name of at most 63 characters (letters, digits, '-', '_', '.'), starting and ending "
    "with a letter or digit"
)
LABEL_VALUE_MESSAGE: Final = (
    "must be a label value: empty, or at most 63 characters (letters, digits, '-', '_', '.'), "
    "starting and ending with a letter or digit"
)


def _label_key_cel(var: str) -> str:
    return (
        f"{var}.matches('{_LABEL_KEY_RE}') && "
        f"(!{var}.contains('/') || {var}.indexOf('/') <= {MAX_LABEL_PREFIX_LENGTH})"
    )


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes label key, or None (the CRD's rule, in Python)."""
    prefix, slash, _ = key.partition("/")
    if _LABEL_KEY.fullmatch(key) is None or (slash and len(prefix) > MAX_LABEL_PREFIX_LENGTH):
        return LABEL_KEY_MESSAGE
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a Kubernetes label value, or None (the CRD's rule, in Python)."""
    return LABEL_VALUE_MESSAGE if _LABEL_VALUE.fullmatch(value) is None else None


def _checked_key(key: str) -> str:
    if (problem := label_key_problem(key)) is not None:
        raise ValueError(problem)
    return key


def _checked_value(value: str) -> str:
    if (problem := label_value_problem(value)) is not None:
        raise ValueError(problem)
    return value


def _checked_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        _checked_key(key)
        _checked_value(value)
    return labels


_VALUE_SCHEMA: Final = {
    "type": "string",
    "maxLength": 63,
    **cel(Rule(rule=f"self.matches('{_LABEL_VALUE_RE}')", message=LABEL_VALUE_MESSAGE)),
}

LabelValue = Annotated[
    str,
    pydantic.AfterValidator(_checked_value),
    pydantic.WithJsonSchema(_VALUE_SCHEMA),
]
"""A label value: at most 63 characters, empty allowed."""

MatchLabels = Annotated[
    dict[str, str],
    pydantic.Field(max_length=MAX_SELECTOR_LABELS),
    pydantic.AfterValidator(_checked_labels),
    pydantic.WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": _VALUE_SCHEMA,
            "maxProperties": MAX_SELECTOR_LABELS,
            **cel(
                Rule(
                    rule=f"self.all(k, {_label_key_cel('k')})", message="keys " + LABEL_KEY_MESSAGE
                )
            ),
        }
    ),
]
"""matchLabels: label keys to label values."""

_VALUES_BY_OPERATOR_MESSAGE: Final = (
    "values must be non-empty for In and NotIn and empty for Exists and DoesNotExist"
)


class LabelSelectorRequirement(KubeModel):
    """One label match expression: a key related to values by an operator."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="self.operator in ['In', 'NotIn'] ? has(self.values) && self.values.size() > 0 "
            ": !has(self.values) || self.values.size() == 0",
            message=_VALUES_BY_OPERATOR_MESSAGE,
            field_path=".values",
        ),
    )

    key: Annotated[
        str,
        pydantic.Field(
            max_length=MAX_LABEL_PREFIX_LENGTH + 1 + 63,
            json_schema_extra=cel(Rule(rule=_label_key_cel("self"), message=LABEL_KEY_MESSAGE)),
        ),
        pydantic.AfterValidator(_checked_key),
    ]
    """The label key the expression applies to."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the key relates to the values: In, NotIn, Exists or DoesNotExist."""
    values: Annotated[list[LabelValue], pydantic.Field(max_length=64)] | None = None
    """The values to compare with; empty for Exists and DoesNotExist."""

    @pydantic.model_validator(mode="after")
    def _values_fit_the_operator(self) -> LabelSelectorRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(_VALUES_BY_OPERATOR_MESSAGE)
        return self


class LabelSelector(KubeModel):
    """A Kubernetes label selector (metav1.LabelSelector)."""

    match_labels: MatchLabels | None = None
    """Labels that must all be present with exactly these values."""
    match_expressions: (
        Annotated[list[LabelSelectorRequirement], pydantic.Field(max_length=MAX_SELECTOR_LABELS)]
        | None
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
