"""NodeClaim ``karpenter.sh/v1``: today's Karpenter node claim.

Cluster-scoped, with an immutable spec and the ``expireAfter`` default of 720h, like upstream
Karpenter's CRD, so claims written by Kaito, by Karpenter itself or by any other client validate.
"""

from __future__ import annotations

import datetime
from typing import Annotated, ClassVar, Literal

import pydantic

from kaito_apis import _base
from kaito_apis._base import Rule
from kaito_apis.karpenter import constants

API_VERSION: Literal["karpenter.sh/v1"] = "karpenter.sh/v1"

_DOMAIN = "self.find('^[^/]+')"
_WELL_KNOWN = ", ".join(f"'{k}'" for k in constants.WELL_KNOWN_KUBERNETES_LABELS)

_REQUIREMENT_KEY_RULES = (
    Rule(
        rule=f"self in [{_WELL_KNOWN}] || {_DOMAIN}.endsWith('node.kubernetes.io') || "
        f"{_DOMAIN}.endsWith('node-restriction.kubernetes.io') || "
        f"!{_DOMAIN}.endsWith('kubernetes.io')",
        message='label domain "kubernetes.io" is restricted',
    ),
    Rule(
        rule=f"{_DOMAIN}.endsWith('kops.k8s.io') || !{_DOMAIN}.endsWith('k8s.io')",
        message='label domain "k8s.io" is restricted',
    ),
    Rule(
        rule=f"self in ['{constants.LABEL_CAPACITY_TYPE}', '{constants.LABEL_NODEPOOL}'] || "
        f"!{_DOMAIN}.endsWith('karpenter.sh')",
        message='label domain "karpenter.sh" is restricted',
    ),
    Rule(
        rule="self != 'kubernetes.io/hostname'",
        message='label "kubernetes.io/hostname" is restricted',
    ),
)

_DURATION = r"^([0-9]+(s|m|h))+$"


class NodeSelectorRequirementWithMinValues(_base.KubeModel):
    """A requirement on a node label, optionally asking for a minimum number of distinct values."""

    key: Annotated[
        str,
        pydantic.Field(
            max_length=316,
            pattern=_base.QUALIFIED_NAME_PATTERN,
            json_schema_extra=_base.cel(*_REQUIREMENT_KEY_RULES),
        ),
    ]
    """The node label key."""
    operator: constants.Operator
    """How the label relates to the values."""
    values: (
        Annotated[
            list[
                Annotated[
                    str,
                    pydantic.Field(
                        max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
                    ),
                ]
            ],
            pydantic.Field(json_schema_extra={"x-kubernetes-list-type": "atomic"}),
        ]
        | None
    ) = None
    """Values: at least one for In, none for Exists/DoesNotExist, one integer for Gt/Lt."""
    min_values: Annotated[int, pydantic.Field(ge=1, le=50)] | None = None
    """Alpha: the least number of distinct values the provider must be able to choose from."""


class NodeClassReference(_base.KubeModel):
    """A reference to the provider's node class object (e.g. kaito.sh KaitoNodeClass)."""

    group: Annotated[
        str,
        pydantic.Field(
            pattern=r"^[^/]*$",
            json_schema_extra=_base.cel(Rule(rule="self != ''", message="group may not be empty")),
        ),
    ]
    """API group of the node class (no version)."""
    kind: Annotated[
        str,
        pydantic.Field(
            json_schema_extra=_base.cel(Rule(rule="self != ''", message="kind may not be empty"))
        ),
    ]
    """Kind of the node class."""
    name: Annotated[
        str,
        pydantic.Field(
            json_schema_extra=_base.cel(Rule(rule="self != ''", message="name may not be empty"))
        ),
    ]
    """Name of the node class."""


class ResourceRequirements(_base.KubeModel):
    """Resources the node must offer."""

    requests: _base.ResourceList | None = None
    """Minimum resources (cpu, memory, storage, nvidia.com/gpu, ...) the node must have."""


class NodeClaimSpec(_base.KubeModel):
    """The node a NodeClaim asks for; immutable once created."""

    __kube_rules__: ClassVar[tuple[Rule, ...]] = (
        Rule(rule=_base.IMMUTABLE, message="spec is immutable"),
    )

    taints: list[_base.Taint] | None = None
    """Taints the node carries."""
    startup_taints: list[_base.Taint] | None = None
    """Taints present at start-up that something else removes once the node is initialised."""
    requirements: Annotated[
        list[NodeSelectorRequirementWithMinValues],
        pydantic.Field(
            max_length=100,
            json_schema_extra=_base.cel(
                Rule(
                    rule="self.all(r, r.operator != 'In' || "
                    "(has(r.values) && r.values.size() > 0))",
                    message="requirements with operator 'In' must have a value defined",
                ),
                Rule(
                    rule="self.all(r, !(r.operator in ['Gt', 'Lt']) || "
                    "(has(r.values) && r.values.size() == 1 && int(r.values[0]) >= 0))",
                    message="requirements operator 'Gt' or 'Lt' must have a single positive "
                    "integer value",
                ),
                Rule(
                    rule="self.all(r, !(r.operator == 'In' && has(r.minValues)) || "
                    "(has(r.values) && r.values.size() >= r.minValues))",
                    message="requirements with 'minValues' must have at least that many values "
                    "specified in the 'values' field",
                ),
            ),
        ),
    ]
    """Label requirements the node satisfies (instance type, zone, architecture, node pool, ...)."""
    resources: ResourceRequirements | None = None
    """Resources the node must offer."""
    node_class_ref: NodeClassReference
    """The provider-specific node class."""
    termination_grace_period: Annotated[str, pydantic.Field(pattern=_DURATION)] | None = None
    """The longest time draining the node may take once deletion starts, e.g. 1h."""
    expire_after: Annotated[
        str,
        pydantic.Field(
            pattern=r"^(([0-9]+(s|m|h))+)|(Never)$", json_schema_extra={"x-crd-default": True}
        ),
    ] = "720h"
    """How long after creation the node is replaced, or Never."""


class NodeClaimStatus(_base.KubeModel):
    """What the provider observed about the claim's node."""

    node_name: str | None = None
    """Name of the Node that registered for this claim."""
    provider_id: str | None = pydantic.Field(default=None, alias="providerID")
    """The cloud provider's ID of the instance."""
    image_id: str | None = pydantic.Field(default=None, alias="imageID")
    """The image the node runs."""
    capacity: _base.ResourceList | None = None
    """The node's estimated capacity."""
    allocatable: _base.ResourceList | None = None
    """The node's estimated allocatable resources."""
    conditions: list[_base.Condition] | None = None
    """Lifecycle conditions: Launched, Registered, Initialized and the root Ready."""
    last_pod_event_time: datetime.datetime | None = None
    """When a pod was last scheduled onto or removed from the node."""


class NodeClaim(_base.KubeModel):
    """A request for one node, fulfilled by a Karpenter provider (v1)."""

    api_version: Literal["karpenter.sh/v1"] = API_VERSION
    """The API version, karpenter.sh/v1."""
    kind: Literal["NodeClaim"] = "NodeClaim"
    """The kind, NodeClaim."""
    metadata: _base.ObjectMeta = _base.ObjectMeta()
    """Standard object metadata."""
    spec: NodeClaimSpec
    """The node asked for."""
    status: NodeClaimStatus | None = None
    """What the provider observed."""
