"""The admission policy's rules in Python, for the reconciler.

A Workspace can reach the cluster without the policy having looked at it: the policy or its
binding was not installed, the Workspace predates them, or someone ran with the policy's binding
removed. The reconciler therefore runs these same rules on every Workspace it sees and reports a
condition when they fail, instead of provisioning GPU nodes for a model that cannot run on them.

The answers come from the catalog's own functions (:func:`preset_catalog.resolve_preset`,
:func:`~preset_catalog.get_instance_type`, :func:`~preset_catalog.check_fit`), the same numbers the
policy reads from the exported ConfigMap. Unlike the API server, which reports only the first
failing validation, this returns every violation, ordered as the policy's validations are
(:class:`~.rules.AdmissionRule`), so the first rule's messages are the policy's message.

Only a Workspace's current state is checked: the policy's UPDATE leniency (re-checking only what
changed) has no counterpart here, so a Workspace whose preset the catalog has deprecated since
admission is reported too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import preset_catalog
from kaito_apis.workspace import constants
from workspace_controller.admission import rules
from workspace_controller.admission.rules import AdmissionCode, AdmissionRule, AdmissionViolation

if TYPE_CHECKING:
    from kaito_apis.workspace import v1beta1

__all__ = ["admission_violations"]

_VC = preset_catalog.ViolationCode

# Where check_fit's findings belong among the policy's rules (capacity findings are GPU_FIT).
_RULE_OF_CODE: Final = {
    _VC.PRESET_DEPRECATED: AdmissionRule.PRESET_NOT_DEPRECATED,
    _VC.TUNING_METHOD_NOT_SUPPORTED: AdmissionRule.TUNING_METHOD_SUPPORTED,
    _VC.RUNTIME_NOT_SUPPORTED: AdmissionRule.RUNTIME_SUPPORTED,
    _VC.ADAPTERS_NOT_SUPPORTED: AdmissionRule.ADAPTERS_SUPPORTED,
}
_RULE_ORDER: Final = {rule: index for index, rule in enumerate(AdmissionRule)}


def admission_violations(
    ws: v1beta1.Workspace,
    *,
    catalog: preset_catalog.Catalog | None = None,
    max_nodes_per_workspace: int = rules.DEFAULT_MAX_NODES_PER_WORKSPACE,
) -> list[AdmissionViolation]:
    """Every admission rule ``ws`` breaks, in the policy's order; empty when it is admissible.

    ``max_nodes_per_workspace`` is the cap on ``resource.count`` the policy applies (the chart's
    value; pass the namespace's own cap where it has one).
    """
    catalog = catalog or preset_catalog.load_catalog()
    annotations = ws.metadata.annotations or {}
    found = _annotation_violations(annotations)

    preset, preset_field = None, "inference.preset.name"
    preset_name = ""
    if ws.tuning is not None:
        preset_name, preset_field = ws.tuning.preset.name, "tuning.preset.name"
    elif ws.inference is not None and ws.inference.preset is not None:
        preset_name = ws.inference.preset.name
    if preset_name:
        preset, unknown = _resolve_preset(preset_name, preset_field, catalog)
        found += unknown

    sku = None
    instance_type = ws.resource.instance_type or ""
    if instance_type:
        sku, unknown = _resolve_instance_type(instance_type, catalog)
        found += unknown

    if preset is not None:
        found += _fit_violations(ws, preset, sku, annotations, catalog)
    found += _selector_violations(ws)
    if ws.resource.count > max_nodes_per_workspace:
        found.append(
            AdmissionViolation(
                rule=AdmissionRule.NODE_COUNT_LIMIT,
                code=AdmissionCode.TOO_MANY_NODES,
                field="resource.count",
                message=rules.node_count_message(ws.resource.count, max_nodes_per_workspace),
            )
        )
    return sorted(found, key=lambda v: _RULE_ORDER[v.rule])


def _annotation_violations(annotations: dict[str, str]) -> list[AdmissionViolation]:
    return [
        AdmissionViolation(
            rule=AdmissionRule.ANNOTATION_VALUES,
            code=AdmissionCode.INVALID_ANNOTATION,
            field=f"metadata.annotations[{key}]",
            message=(
                f'unsupported value "{rules.echo(annotations[key])}", '
                f"must be one of {', '.join(allowed)}"
            ),
        )
        for key, allowed in rules.ANNOTATION_VALUES.items()
        if key in annotations and annotations[key] not in allowed
    ]


def _resolve_preset(
    name: str, field: str, catalog: preset_catalog.Catalog
) -> tuple[preset_catalog.Preset | None, list[AdmissionViolation]]:
    # CEL lower-cases ASCII only; a non-ASCII name is unknown there, so it is unknown here too.
    try:
        if not name.isascii():
            raise preset_catalog.UnknownNameError(kind="preset", name=name, suggestions=())
        return preset_catalog.resolve_preset(name, catalog=catalog).preset, []
    except preset_catalog.UnknownNameError as error:
        model_id = f": {rules.MODEL_ID_HINT}" if "/" in name else ""
        hint = (
            f"did you mean {', '.join(error.suggestions)}?"
            if error.suggestions
            else rules.PRESET_LIST_HINT
        )
        return None, [
            AdmissionViolation(
                rule=AdmissionRule.PRESET_KNOWN,
                code=AdmissionCode.UNKNOWN_PRESET,
                field=field,
                message=f'Unsupported preset name "{rules.echo(name)}"{model_id}; {hint}',
            )
        ]


def _resolve_instance_type(
    name: str, catalog: preset_catalog.Catalog
) -> tuple[preset_catalog.InstanceType | None, list[AdmissionViolation]]:
    try:
        if not name.isascii():
            raise preset_catalog.UnknownNameError(kind="instance type", name=name, suggestions=())
        return preset_catalog.get_instance_type(name, catalog=catalog), []
    except preset_catalog.UnknownNameError as error:
        hint = (
            f"did you mean {', '.join(error.suggestions)}?"
            if error.suggestions
            else rules.INSTANCE_TYPE_LIST_HINT
        )
        return None, [
            AdmissionViolation(
                rule=AdmissionRule.INSTANCE_TYPE_KNOWN,
                code=AdmissionCode.UNKNOWN_INSTANCE_TYPE,
                field="resource.instanceType",
                message=(
                    f'Unsupported instance type "{rules.echo(name)}": preset catalog '
                    f"{catalog.version} does "
                    f"not list it; {hint}"
                ),
            )
        ]


def _fit_violations(
    ws: v1beta1.Workspace,
    preset: preset_catalog.Preset,
    sku: preset_catalog.InstanceType | None,
    annotations: dict[str, str],
    catalog: preset_catalog.Catalog,
) -> list[AdmissionViolation]:
    """check_fit's findings, each under the policy rule that reports it."""
    workload: preset_catalog.Inference | preset_catalog.Tuning
    if ws.tuning is not None:
        method = ws.tuning.method.lower()
        if method not in tuple(preset_catalog.TuningMethod):
            return []  # the CRD's own rule rejects it
        workload = preset_catalog.Tuning(method=preset_catalog.TuningMethod(method))
    else:
        runtime = annotations.get(constants.ANNOTATION_RUNTIME)
        adapters = (ws.inference.adapters if ws.inference else None) or []
        known = runtime in tuple(preset_catalog.Runtime)
        workload = preset_catalog.Inference(
            runtime=preset_catalog.Runtime(runtime) if known and runtime else None,
            adapter_count=len(adapters),
        )
    # Deprecation, tuning method, runtime and adapter findings do not depend on the instance
    # type, so they are reported even when none is set (any instance type gives the same answer).
    report = preset_catalog.check_fit(
        preset, sku or catalog.instance_types[0], workload=workload, node_count=ws.resource.count
    )
    bypassed = constants.ANNOTATION_BYPASS_RESOURCE_CHECKS in annotations
    found = []
    for violation in report.violations:
        rule = _RULE_OF_CODE.get(violation.code, AdmissionRule.GPU_FIT)
        if rule is AdmissionRule.GPU_FIT and (sku is None or bypassed):
            continue
        found.append(
            AdmissionViolation(
                rule=rule, code=violation.code, field=violation.field, message=violation.message
            )
        )
    return found


def _selector_violations(ws: v1beta1.Workspace) -> list[AdmissionViolation]:
    labels = ws.resource.label_selector.match_labels or {}
    if not labels or any(key not in constants.RESERVED_SELECTOR_KEYS for key in labels):
        return []
    return [
        AdmissionViolation(
            rule=AdmissionRule.SELECTOR_NOT_RESERVED,
            code=AdmissionCode.RESERVED_SELECTOR_LABELS,
            field="resource.labelSelector.matchLabels",
            message=(
                f"every key is reserved for the controller "
                f"({', '.join(rules.RESERVED_SELECTOR_KEYS)}); select the nodes with a label of "
                "your own"
            ),
        )
    ]
