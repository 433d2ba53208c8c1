"""Workspace ``kaito.sh/v1beta1``, the stored version and the one the controller works with.

It is v1alpha1 plus: ``presetOptions.modelAccessSecret``, ``resource.partition``, and the status
fields ``state``, ``targetNodeCount`` and ``performance``. Models subclass their v1alpha1 twins, so
every v1alpha1 rule holds here too.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pydantic

from kaito_apis import _base
from kaito_apis._base import Rule
from kaito_apis.workspace import constants, v1alpha1

API_VERSION: Literal["kaito.sh/v1beta1"] = "kaito.sh/v1beta1"

# Re-exported unchanged: these parts did not change between versions.
DataSource = v1alpha1.DataSource
DataDestination = v1alpha1.DataDestination
AdapterSpec = v1alpha1.AdapterSpec
AdapterSource = v1alpha1.AdapterSource


class PresetOptions(v1alpha1.PresetOptions):
    """Options for fetching a preset's model."""

    model_access_secret: Annotated[str, pydantic.Field(max_length=253)] | None = None
    """A Secret (same namespace) whose key HF_TOKEN grants access to gated model weights."""


class PresetSpec(v1alpha1.PresetSpec):
    """Which model preset to run, by catalog name."""

    preset_options: PresetOptions | None = None
    """How to fetch the model (access secret; deprecated private image)."""


class InferenceSpec(v1alpha1.InferenceSpec):
    """Serve a model: a preset from the catalog, or your own pod template."""

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


class TuningSpec(v1alpha1.TuningSpec):
    """Fine-tune a preset with LoRA or QLoRA as a Kubernetes Job."""

    preset: Annotated[
        PresetSpec,
        pydantic.Field(
            json_schema_extra=_base.cel(
                Rule(rule=_base.IMMUTABLE, message="tuning.preset is immutable")
            )
        ),
    ]
    """The catalog preset whose base model is tuned."""


class PartitionSpec(_base.KubeModel):
    """Share GPUs of existing nodes: MIG slices or a number of whole GPUs."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="self.mode != 'mig' || (has(self.profile) && !has(self.count))",
            message="mode mig needs a profile and no count",
        ),
        Rule(
            rule="self.mode != 'accelerator' || (has(self.count) && !has(self.profile))",
            message="mode accelerator needs a count and no profile",
        ),
    )

    mode: constants.PartitionMode
    """mig (a MIG profile slice) or accelerator (a number of whole GPUs)."""
    profile: Annotated[str, pydantic.Field(max_length=64)] | None = None
    """The MIG profile, e.g. 1g.10gb (mode mig only)."""
    count: Annotated[int, pydantic.Field(ge=1, le=constants.MAX_PARTITION_GPUS)] | None = None
    """How many whole GPUs, at most 16 (mode accelerator only)."""


class ResourceSpec(v1alpha1.ResourceSpec):
    """The GPU nodes a Workspace runs on: instance type, count, and the labels that select them."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="has(self.partition) == has(oldSelf.partition)",
            message="partition cannot be added or removed after creation",
            field_path=".partition",
        ),
    )

    partition: (
        Annotated[
            PartitionSpec,
            pydantic.Field(
                json_schema_extra=_base.cel(
                    Rule(rule=_base.IMMUTABLE, message="resource.partition is immutable")
                )
            ),
        ]
        | None
    ) = None
    """Use a share of an existing node's GPUs instead of whole nodes."""


class PerformanceMetric(_base.KubeModel):
    """One measured figure of the served model."""

    description: str | None = None
    """What was measured."""
    value: str | None = None
    """The figure, as a decimal string."""
    unit: str | None = None
    """The unit of the value."""
    config: dict[str, str] | None = None
    """The benchmark settings that produced the figure."""


class Performance(_base.KubeModel):
    """Benchmark results recorded once the inference server is up."""

    metrics: dict[str, PerformanceMetric] | None = None
    """Figures by name."""


class WorkspaceStatus(v1alpha1.WorkspaceStatus):
    """What the controller observed: conditions, nodes, state and the node-count estimate."""

    state: constants.State | None = None
    """One word: Pending, Running, Succeeded, Failed (tuning) or Ready, NotReady (inference)."""
    target_node_count: Annotated[int, pydantic.Field(ge=0, le=constants.MAX_NODE_COUNT)] | None = (
        None
    )
    """How many GPU nodes the workload needs; estimated once and then kept."""
    performance: Performance | None = None
    """Benchmark results of the inference server."""


class Workspace(v1alpha1.Workspace):
    """A Workspace: GPU nodes plus either an inference server or a fine-tuning Job."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(
            rule="!has(self.tuning) || !has(self.resource.partition)",
            message="tuning cannot use a GPU partition",
            field_path=".resource.partition",
            reason="FieldValueForbidden",
        ),
    )

    api_version: Literal["kaito.sh/v1beta1"] = API_VERSION  # type: ignore[assignment]
    """The API version, kaito.sh/v1beta1."""
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
    "PartitionSpec",
    "Performance",
    "PerformanceMetric",
    "PresetOptions",
    "PresetSpec",
    "ResourceSpec",
    "TuningSpec",
    "Workspace",
    "WorkspaceStatus",
]
