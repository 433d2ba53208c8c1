"""Workspace ``kaito.sh/v1alpha1``: Kaito's first Workspace version, still served.

A Workspace has no ``spec``: ``resource``, ``inference``, ``tuning`` and ``status`` sit next to
``metadata``. Every rule that needs no preset catalog lives here as a CEL rule, so a bad manifest
is rejected by the API server itself with a field path and a reason; catalog-dependent checks
(preset names, GPU fit) belong to the admission policy and the controller.

v1beta1 (``kaito_apis.workspace.v1beta1``) subclasses these models and adds fields and rules.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pydantic

from kaito_apis import _base
from kaito_apis._base import Rule
from kaito_apis.workspace import constants

API_VERSION: Literal["kaito.sh/v1alpha1"] = "kaito.sh/v1alpha1"

# Regular expressions used inside CEL string literals: "[.]" instead of an escaped dot.
_DNS1123_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS1123_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# A URL from which tuning data is downloaded must be http(s) and must not point at this cluster,
# the node or a cloud metadata service (the download runs inside the cluster). One regular
# expression over the URL's host keeps the check inside the API server's CEL cost budget (parsing
# the host as an IP per rule does not fit); the controller re-checks resolved addresses.
_BLOCKED_HOSTS = "|".join(
    (
        "localhost",
        "[^/:?#]*[.]localhost",
        "metadata([.]google[.]internal|[.]azure[.]com)?",
        "instance-data",
        "[0-9]+",  # a whole address as one decimal number, e.g. 2130706433
        "0x[0-9a-f]+",
        "0[.][0-9.]+",
        "127[.][0-9.]+",
        "10[.][0-9.]+",
        "192[.]168[.][0-9.]+",
        "172[.](1[6-9]|2[0-9]|3[01])[.][0-9.]+",
        "169[.]254[.][0-9.]+",
        "100[.](6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])[.][0-9.]+",
        "[[][0:]*(1)?[]]",  # [::], [::1]
        "[[]f[cd][0-9a-f]*:[^]]*[]]",  # unique local fc00::/7
        "[[]fe[89ab][0-9a-f]*:[^]]*[]]",  # link-local fe80::/10
        "[[][0:]*ffff:[^]]*[]]",  # IPv4-mapped
    )
)
_URL_RULES = (
    Rule(
        rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && "
        "url(self).getHostname() != ''",
        message="must be an absolute http or https URL",
    ),
    Rule(
        rule=f"!self.matches('(?i)^[a-z]+://([^/?#@]*@)?({_BLOCKED_HOSTS})([:/?#]|$)')",
        message="must not point at localhost, a cloud metadata service, or a loopback, "
        "link-local or private address",
    ),
)

Str = Annotated[str, pydantic.Field(min_length=1, max_length=253)]
"""A non-empty name-like string."""


class PresetOptions(_base.KubeModel):
    """Options for fetching a preset's model (v1alpha1: private images)."""

    image: Annotated[str, pydantic.Field(max_length=1024)] | None = None
    """Deprecated. The image holding a private preset's weights (with accessMode private)."""
    image_pull_secrets: Annotated[list[Str], pydantic.Field(max_length=32)] | None = None
    """Deprecated. Secrets (in the Workspace's namespace) used to pull the image."""


class PresetSpec(_base.KubeModel):
    """Which model preset to run, by catalog name."""

    name: Str
    """The preset's name in the catalog (or one of its aliases), e.g. phi-3-mini-128k-instruct."""
    access_mode: constants.ModelImageAccessMode = _base.crd_default(
        constants.ModelImageAccessMode.PUBLIC
    )
    """Deprecated. Whether the preset's image is public or private."""
    preset_options: PresetOptions | None = None
    """How to fetch the model when it is not public."""


class DataSource(_base.KubeModel):
    """Where data comes from: URLs, a container image, or a volume (tuning input, adapters)."""

    name: Annotated[str, pydantic.Field(max_length=253)] | None = None
    """A name for this data; adapters are mounted at /mnt/adapter/<name>."""
    urls: (
        Annotated[
            list[
                Annotated[
                    str,
                    pydantic.Field(
                        max_length=1024,
                        json_schema_extra=_base.cel(*_URL_RULES),
                    ),
                ]
            ],
            pydantic.Field(min_length=1, max_length=32),
        ]
        | None
    ) = None
    """HTTP(S) URLs of files to download into /mnt/data (each saved under its file name)."""
    volume_source: _base.VolumeSource | None = None
    """A Kubernetes VolumeSource (persistentVolumeClaim, azureFile, ...) mounted as the data."""
    image: Annotated[str, pydantic.Field(min_length=1, max_length=1024)] | None = None
    """A container image whose /data directory holds the data."""
    image_pull_secrets: Annotated[list[Str], pydantic.Field(max_length=32)] | None = None
    """Secrets (in the Workspace's namespace) used to pull the image."""


class AdapterSource(DataSource):
    """Where an adapter comes from: an image or a volume (URLs are rejected for adapters)."""

    urls: Annotated[list[str], pydantic.Field(max_length=32)] | None = None
    """Not allowed for adapters; present so that the field is reported, not silently dropped."""


class DataDestination(_base.KubeModel):
    """Where tuning results go: a container image pushed to a registry, or a volume."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="has(self.volumeSource) != has(self.image)",
            message="output must set exactly one of image or volumeSource",
        ),
        Rule(
            rule="!has(self.image) || (has(self.imagePushSecret) && self.imagePushSecret != '')",
            message="imagePushSecret is required when output.image is set",
            field_path=".imagePushSecret",
            reason="FieldValueRequired",
        ),
    )

    volume_source: _base.VolumeSource | None = None
    """A Kubernetes VolumeSource that receives the adapter files."""
    image: Annotated[str, pydantic.Field(min_length=1, max_length=1024)] | None = None
    """The image reference the adapter is pushed to, e.g. myregistry.azurecr.io/adapter:0.0.1."""
    image_push_secret: Annotated[str, pydantic.Field(max_length=253)] | None = None
    """A docker-config Secret (in the Workspace's namespace) with push rights on the image."""


class AdapterSpec(_base.KubeModel):
    """A LoRA adapter loaded by the inference server next to the base model."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="has(self.source.name) && self.source.name.matches('" + _DNS1123_SUBDOMAIN + "')",
            message="adapter source name is required and must be a DNS-1123 subdomain",
            field_path=".source.name",
        ),
        Rule(
            rule="!has(self.source.urls)",
            message="adapters can only come from an image or a volume, not from URLs",
            field_path=".source.urls",
            reason="FieldValueForbidden",
        ),
        Rule(
            rule="has(self.source.image) != has(self.source.volumeSource)",
            message="adapter source must set exactly one of image or volumeSource",
            field_path=".source",
        ),
    )

    source: AdapterSource
    """Where the adapter's files come from."""
    strength: (
        Annotated[
            str,
            pydantic.Field(
                max_length=32,
                json_schema_extra=_base.cel(
                    Rule(
                        rule="self.matches('^(0([.][0-9]+)?|1([.]0+)?|[.][0-9]+)$')",
                        message='strength must be a number between 0 and 1, e.g. "0.5"',
                    )
                ),
            ),
        ]
        | None
    ) = None
    """How strongly the adapter applies, "0" to "1" as a string; "1.0" when unset."""


class InferenceSpec(_base.KubeModel):
    """Serve a model: a preset from the catalog, or your own pod template."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="has(self.preset) || has(self.template)",
            message="either preset or template must be specified",
            field_path=".preset",
            reason="FieldValueRequired",
        ),
        Rule(
            rule="!(has(self.preset) && has(self.template))",
            message="preset and template cannot be set at the same time",
            field_path=".template",
            reason="FieldValueForbidden",
        ),
        Rule(
            rule="has(self.preset) == has(oldSelf.preset)",
            message="preset cannot be added or removed after creation",
            field_path=".preset",
        ),
        Rule(
            rule="has(self.template) == has(oldSelf.template)",
            message="template cannot be added or removed after creation",
            field_path=".template",
        ),
        Rule(
            rule=f"!has(self.adapters) || self.adapters.size() <= {constants.MAX_ADAPTERS}",
            message=f"at most {constants.MAX_ADAPTERS} adapters are allowed",
            field_path=".adapters",
            reason="FieldValueForbidden",
        ),
        Rule(
            rule="!has(self.adapters) || self.adapters.all(a, !has(a.source.name) || "
            "self.adapters.exists_one(b, has(b.source.name) && b.source.name == a.source.name))",
            message="adapter source names must be unique",
            field_path=".adapters",
        ),
    )

    preset: (
        Annotated[
            PresetSpec,
            pydantic.Field(
                json_schema_extra=_base.cel(
                    Rule(rule=_base.IMMUTABLE, message="inference.preset is immutable")
                )
            ),
        ]
        | None
    ) = None
    """The catalog preset to serve."""
    template: _base.Schemaless | None = None
    """A full PodTemplateSpec to run instead of a preset (your image, your command)."""
    config: Annotated[str, pydantic.Field(max_length=253)] | None = None
    """A ConfigMap (same namespace) with key inference_config.yaml tuning the inference engine."""
    adapters: Annotated[list[AdapterSpec], pydantic.Field(max_length=16)] | None = None
    """LoRA adapters to load with the base model (at most 10)."""


class TuningSpec(_base.KubeModel):
    """Fine-tune a preset with LoRA or QLoRA as a Kubernetes Job."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="(has(self.input.urls) ? 1 : 0) + (has(self.input.volumeSource) ? 1 : 0) + "
            "(has(self.input.image) ? 1 : 0) == 1",
            message="input must set exactly one of urls, image or volumeSource",
            field_path=".input",
        ),
        Rule(
            rule="has(self.input.name) == has(oldSelf.input.name) && "
            "(!has(self.input.name) || self.input.name == oldSelf.input.name)",
            message="input.name is immutable",
            field_path=".input.name",
        ),
    )

    preset: Annotated[
        PresetSpec,
        pydantic.Field(
            json_schema_extra=_base.cel(
                Rule(rule=_base.IMMUTABLE, message="tuning.preset is immutable")
            )
        ),
    ]
    """The catalog preset whose base model is tuned."""
    method: Annotated[
        str,
        pydantic.Field(
            max_length=16,
            json_schema_extra=_base.cel(
                Rule(
                    rule="self.lowerAscii() in ['lora', 'qlora']",
                    message="method must be lora or qlora",
                    reason="FieldValueInvalid",
                ),
                Rule(rule=_base.IMMUTABLE, message="tuning.method is immutable"),
            ),
        ),
    ]
    """The tuning method: lora, or qlora (LoRA over a 4-bit quantized base model)."""
    config: Annotated[str, pydantic.Field(max_length=253)] | None = None
    """A ConfigMap (same namespace) with key training_config.yaml; the method's default if unset."""
    input: DataSource
    """The training data: URLs, an image, or a volume."""
    output: DataDestination
    """Where the trained adapter goes: an image or a volume."""


class ResourceSpec(_base.KubeModel):
    """The GPU nodes a Workspace runs on: instance type, count, and the labels that select them."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="!has(self.instanceType) || self.instanceType == '' || "
            "(has(oldSelf.instanceType) && self.instanceType == oldSelf.instanceType)",
            message="instanceType is immutable (it may only be cleared)",
            field_path=".instanceType",
        ),
    )

    count: Annotated[
        int,
        pydantic.Field(
            ge=1,
            le=constants.MAX_NODE_COUNT,
            json_schema_extra={
                "x-crd-default": True,
                **_base.cel(Rule(rule=_base.IMMUTABLE, message="resource.count is immutable")),
            },
        ),
    ] = 1
    """The number of GPU nodes, 1 to 100 (deprecated in v1beta1: the node count is estimated)."""
    instance_type: Annotated[str, pydantic.Field(max_length=128)] | None = None
    """The GPU VM size of the nodes to create, e.g. Standard_NC6s_v3."""
    label_selector: Annotated[
        _base.LabelSelector,
        pydantic.Field(
            json_schema_extra=_base.cel(
                Rule(
                    rule="(has(self.matchLabels) && self.matchLabels.size() > 0) || "
                    "(has(self.matchExpressions) && self.matchExpressions.size() > 0)",
                    message="labelSelector must select at least one label",
                ),
                Rule(
                    rule="!has(self.matchExpressions) || self.matchExpressions.all(e, "
                    "e.operator == 'In' && has(e.values) && e.values.size() == 1)",
                    message="labelSelector.matchExpressions may only use operator In "
                    "with exactly one value",
                ),
                Rule(rule=_base.IMMUTABLE, message="resource.labelSelector is immutable"),
            )
        ),
    ]
    """Labels the GPU nodes carry; created nodes get them, and pods require them."""
    preferred_nodes: Annotated[list[Str], pydantic.Field(max_length=100)] | None = None
    """Deprecated. Existing nodes to use before creating new ones."""


class WorkspaceStatus(_base.KubeModel):
    """What the controller observed: conditions and the nodes in use."""

    worker_nodes: list[str] | None = None
    """Names of the nodes running this Workspace's workload."""
    conditions: (
        Annotated[
            list[_base.Condition],
            pydantic.Field(
                json_schema_extra={
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["type"],
                }
            ),
        ]
        | None
    ) = None
    """Conditions: ResourceReady, InferenceReady, JobStarted, WorkspaceSucceeded, ..."""


_OBJECT_RULES = (
    Rule(
        rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('"
        + _DNS1123_LABEL
        + "')",
        message="name must be a DNS-1123 label: at most 63 lowercase letters, digits or '-', "
        "starting and ending with a letter or digit",
    ),
    Rule(
        rule="has(self.inference) || has(self.tuning)",
        message="either inference or tuning must be specified",
        field_path=".inference",
        reason="FieldValueRequired",
    ),
    Rule(
        rule="!(has(self.inference) && has(self.tuning))",
        message="inference and tuning cannot both be specified",
        field_path=".tuning",
        reason="FieldValueForbidden",
    ),
    Rule(
        rule="has(self.inference) == has(oldSelf.inference)",
        message="inference cannot be added or removed after creation",
        field_path=".inference",
    ),
    Rule(
        rule="has(self.tuning) == has(oldSelf.tuning)",
        message="tuning cannot be added or removed after creation",
        field_path=".tuning",
    ),
    Rule(
        rule="!has(self.tuning) || !has(self.resource.count) || self.resource.count <= 1",
        message="tuning runs on a single node: resource.count must be 1",
        field_path=".resource.count",
        reason="FieldValueForbidden",
    ),
)


class Workspace(_base.KubeModel):
    """A Workspace: GPU nodes plus either an inference server or a fine-tuning Job."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = _OBJECT_RULES

    api_version: Literal["kaito.sh/v1alpha1"] = API_VERSION
    """The API version, kaito.sh/v1alpha1."""
    kind: Literal["Workspace"] = "Workspace"
    """The kind, Workspace."""
    metadata: _base.ObjectMeta = _base.ObjectMeta()
    """Standard object metadata."""
    resource: ResourceSpec
    """The GPU nodes to run on."""
    inference: InferenceSpec | None = None
    """Serve a model (exclusive with tuning)."""
    tuning: TuningSpec | None = None
    """Fine-tune a model (exclusive with inference)."""
    status: WorkspaceStatus | None = None
    """Observed state, written by the controller."""


__all__ = [
    "API_VERSION",
    "AdapterSource",
    "AdapterSpec",
    "DataDestination",
    "DataSource",
    "InferenceSpec",
    "PresetOptions",
    "PresetSpec",
    "ResourceSpec",
    "TuningSpec",
    "Workspace",
    "WorkspaceStatus",
]
