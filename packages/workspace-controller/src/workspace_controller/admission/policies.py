"""Build the ValidatingAdmissionPolicy that checks Workspaces against the preset catalog.

Why a policy and not a webhook: a ValidatingAdmissionPolicy runs inside the API server, so there is
no webhook Deployment, Service or serving certificate to run and rotate, and admission keeps
working while the controller is down. Its parameter is the catalog exported as a ConfigMap
(:func:`preset_catalog.export_configmap`); CEL cannot parse the catalog's YAML document, so the
rules read the export's flat keys (``preset.<name>.inference.total-gpu-memory-mib`` and friends),
and the figures are the ones :func:`preset_catalog.check_fit` uses, with the same messages.

Shape of the policy:

- ``variables`` name every intermediate value once (the resolved preset and instance type, the
  effective runtime, the fit figures), so each validation reads as one sentence;
- one validation per :class:`~.rules.AdmissionRule`, in that order, each message starting with the
  field it is about (the API server reports only the first failing validation of a policy, and
  puts no field path on a policy's denial);
- every message expression is total: user input it repeats goes through :func:`_echo` (at most
  ``ECHO_LIMIT`` characters, no line breaks), because the API server replaces a result over 5 KiB
  or spanning lines with "failed expression: <the validation>";
- the cap on ``resource.count`` is the policy's own variable ``globalMaxNodes`` (the chart's
  ``provisioning.maxNodesPerWorkspace``), replaced per namespace by the Namespace annotation
  ``kaito.sh/max-nodes-per-workspace``;
- two bindings: CREATE fails closed without the catalog, UPDATE does not (the controller's
  finalizer must stay removable), see :func:`policy_manifests`;
- on UPDATE only what can still change is checked again: annotation values that changed, and
  runtime support, adapters and GPU fit when the runtime annotation, the bypass annotation or the
  number of adapters changed. Everything else is immutable through the CRD's own rules, and
  re-checking it would let a newer catalog (a preset deprecated since) block the controller's own
  updates, such as removing its finalizer.

Operating note: on kube-apiserver 1.36 (without the fix for kubernetes/kubernetes#130887), once no
binding names the ConfigMap paramKind, even for a second, the API server's parameter informer stops
for good: bindings created afterwards read a frozen catalog (or none) until the API server
restarts. Upgrade the manifests in place (apply, ``helm upgrade``); do not delete and recreate the
bindings.

Everything here is pure: plain dicts in, plain dicts out.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import preset_catalog
from kaito_apis.workspace import constants
from workspace_controller.admission import rules
from workspace_controller.admission.rules import AdmissionRule

__all__ = [
    "DEFAULT_CATALOG_CONFIGMAP_NAME",
    "DEFAULT_POLICY_NAME",
    "POLICY_API_VERSION",
    "UPDATES_BINDING_SUFFIX",
    "admission_manifests",
    "catalog_configmap",
    "policy_manifests",
]

DEFAULT_POLICY_NAME: Final = "workspace-catalog-rules"
UPDATES_BINDING_SUFFIX: Final = "-updates"
"""The binding for UPDATE is named after the policy with this suffix."""
DEFAULT_CATALOG_CONFIGMAP_NAME: Final = "preset-catalog"
"""The name :func:`preset_catalog.export_configmap` gives the ConfigMap by default."""
POLICY_API_VERSION: Final = "admissionregistration.k8s.io/v1"
Manifest = dict[str, Any]

_RUNTIME = constants.ANNOTATION_RUNTIME
_MAX_NODES = rules.ANNOTATION_MAX_NODES_PER_WORKSPACE
_BYPASS = constants.ANNOTATION_BYPASS_RESOURCE_CHECKS


def _lit(text: str) -> str:
    """``text`` as a CEL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_lit(i) for i in items) + "]"


def _annotation(key: str, annotations: str = "variables.annotations") -> str:
    """The value of annotation ``key``, or '' when it is not set."""
    return f"({_lit(key)} in {annotations} ? {annotations}[{_lit(key)}] : '')"


def _echo(text: str) -> str:
    """CEL: the user's string ``text`` cut to ECHO_LIMIT characters and kept on one line.

    Mirrors :func:`.rules.echo`. Without it a message could exceed the API server's 5 KiB limit for
    a message expression's result, or contain a line break, and the user would read
    "failed expression: ..." instead of the message.
    """
    limit = rules.ECHO_LIMIT
    return (
        f"({text}.size() <= {limit} ? {text} : {text}.substring(0, {limit}) + '\\u2026')"
        ".replace('\\n', ' ').replace('\\r', ' ')"
    )


def _gib_of_mib(mib: str) -> str:
    """A MiB figure written in GiB the way check_fit writes GiB (16, 32.5)."""
    return f"({mib} % 1024 == 0 ? string({mib} / 1024) : string(double({mib}) / 1024.0))"


def _data(key: str) -> str:
    """A catalog key; ``key`` is a CEL expression."""
    return f"params.data[{key}]"


def _annotation_problems() -> str:
    """A list of messages, one per annotation whose value is not allowed (and is new)."""
    problems = []
    for key, allowed in rules.ANNOTATION_VALUES.items():
        value = f"variables.annotations[{_lit(key)}]"
        is_new = (
            f"(variables.isCreate || !({_lit(key)} in variables.oldAnnotations) "
            f"|| variables.oldAnnotations[{_lit(key)}] != {value})"
        )
        prefix = _lit(f'metadata.annotations[{key}]: unsupported value "')
        suffix = _lit('", must be one of ' + ", ".join(allowed))
        problems.append(
            f"{_lit(key)} in variables.annotations && !({value} in {_list(allowed)}) "
            f"&& {is_new} ? {prefix} + {_echo(value)} + {suffix} : ''"
        )
    return "[\n" + ",\n".join(problems) + "\n].filter(m, m != '')"


# (name, expression) in dependency order; a variable may use the ones before it. Variables are
# evaluated lazily, so the catalog lookups of the fit figures only run when a rule needs them.
_VARIABLES: tuple[tuple[str, str], ...] = (
    ("isCreate", "request.operation == 'CREATE'"),
    (
        "annotations",
        "has(object.metadata.annotations) ? object.metadata.annotations : {}",
    ),
    (
        "oldAnnotations",
        "variables.isCreate || !has(oldObject.metadata.annotations) ? {} "
        ": oldObject.metadata.annotations",
    ),
    ("isTuning", "has(object.tuning)"),
    (
        "presetField",
        "variables.isTuning ? 'tuning.preset.name' : 'inference.preset.name'",
    ),
    (
        "presetName",
        "variables.isTuning ? object.tuning.preset.name "
        ": (has(object.inference) && has(object.inference.preset) "
        "? object.inference.preset.name : '')",
    ),
    # The catalog matches names and aliases case-insensitively; 'org/model' aliases are stored
    # under 'org_model' with the spelling beside them, so 'org_model' itself stays unknown.
    ("presetSpelling", "variables.presetName.lowerAscii()"),
    ("presetKey", "variables.presetSpelling.replace('/', '_')"),
    (
        "preset",
        "('preset-spelling.' + variables.presetKey) in params.data "
        "&& params.data['preset-spelling.' + variables.presetKey] == variables.presetSpelling "
        "? params.data['preset-index.' + variables.presetKey] : ''",
    ),
    ("p", "'preset.' + variables.preset + '.'"),
    (
        "instanceType",
        "has(object.resource.instanceType) ? object.resource.instanceType : ''",
    ),
    (
        "sku",
        "('instance-type-index.' + variables.instanceType.lowerAscii()) in params.data "
        "? params.data['instance-type-index.' + variables.instanceType.lowerAscii()] : ''",
    ),
    ("s", "'instance-type.' + variables.sku + '.'"),
    ("runtimeAnnotation", _annotation(_RUNTIME)),
    (
        "runtime",
        f"variables.runtimeAnnotation in {_list(tuple(preset_catalog.Runtime))} "
        "? variables.runtimeAnnotation : params.data[variables.p + 'runtimes'].split(',')[0]",
    ),
    ("method", "variables.isTuning ? object.tuning.method.lowerAscii() : ''"),
    ("bypass", f"{_lit(_BYPASS)} in variables.annotations"),
    (
        "adapterCount",
        "has(object.inference) && has(object.inference.adapters) "
        "? object.inference.adapters.size() : 0",
    ),
    # Runtime support, adapters and GPU fit depend on these mutable inputs only.
    (
        "recheckFit",
        "variables.isCreate "
        f"|| variables.runtimeAnnotation != {_annotation(_RUNTIME, 'variables.oldAnnotations')} "
        f"|| variables.bypass != ({_lit(_BYPASS)} in variables.oldAnnotations) "
        "|| variables.adapterCount != (has(oldObject.inference) "
        "&& has(oldObject.inference.adapters) ? oldObject.inference.adapters.size() : 0)",
    ),
    ("nodeCount", "has(object.resource.count) ? object.resource.count : 1"),
    # The namespace's own cap (annotation), or -1 when it has none or an unreadable one.
    (
        "namespaceMaxNodes",
        f"has(namespaceObject.metadata.annotations) && {_lit(_MAX_NODES)} in "
        "namespaceObject.metadata.annotations "
        f"&& namespaceObject.metadata.annotations[{_lit(_MAX_NODES)}].matches('^[0-9]{{1,4}}$') "
        f"? int(namespaceObject.metadata.annotations[{_lit(_MAX_NODES)}]) : -1",
    ),
    (
        "maxNodes",
        "variables.namespaceMaxNodes >= 0 ? variables.namespaceMaxNodes : variables.globalMaxNodes",
    ),
    ("skuGpus", "int(params.data[variables.s + 'gpu-count'])"),
    ("skuGpuMiB", "int(params.data[variables.s + 'gpu-memory-mib'])"),
    ("skuTotalMiB", "int(params.data[variables.s + 'total-gpu-memory-mib'])"),
    ("needGpus", "int(params.data[variables.p + 'inference.gpu-count'])"),
    ("needTotalMiB", "int(params.data[variables.p + 'inference.total-gpu-memory-mib'])"),
    (
        "splitsAcrossNodes",
        "variables.runtime == 'vllm' "
        "&& params.data[variables.p + 'distributed-inference'] == 'true'",
    ),
    ("usableNodes", "variables.splitsAcrossNodes ? variables.nodeCount : 1"),
    (
        "vllmCannotSplit",
        "variables.runtime == 'vllm' "
        "&& params.data[variables.p + 'vllm.tensor-parallel'] == 'false'",
    ),
    (
        "perGpuNeedMiB",
        "variables.vllmCannotSplit ? variables.needTotalMiB "
        ": int(params.data[variables.p + 'inference.per-gpu-memory-mib'])",
    ),
    (
        "perGpuNeedGiB",
        "params.data[variables.p + (variables.vllmCannotSplit "
        "? 'inference.total-gpu-memory-gib' : 'inference.per-gpu-memory-gib')]",
    ),
    ("availableMiB", "variables.usableNodes * variables.skuTotalMiB"),
    (
        "inferenceFitProblems",
        "[\n"
        # check_fit: a model that fits no single node and cannot be split across nodes.
        "variables.nodeCount > 1 && !variables.splitsAcrossNodes "
        "&& !(variables.skuTotalMiB >= variables.needTotalMiB "
        "&& variables.skuGpus >= variables.needGpus) "
        "? 'resource.count: Multi-node distributed inference is not supported ' "
        "+ (variables.runtime == 'transformers' "
        "&& params.data[variables.p + 'distributed-inference'] == 'true' "
        "? 'with Huggingface Transformers runtime' : 'for preset ' + variables.preset) "
        "+ ': one ' + variables.sku + ' node has ' "
        "+ params.data[variables.s + 'total-gpu-memory-gib'] "
        "+ ' GiB of GPU memory, the model needs ' "
        "+ params.data[variables.p + 'inference.total-gpu-memory-gib'] "
        "+ ' GiB; choose a larger instance type' : '',\n"
        # GPU count over the nodes one instance of the model may use.
        "variables.usableNodes * variables.skuGpus < variables.needGpus "
        "? 'resource.instanceType: Insufficient number of GPUs: instance type ' + variables.sku "
        "+ ' provides ' + string(variables.usableNodes * variables.skuGpus) "
        "+ ' GPU(s) to one instance of the model, but preset ' + variables.preset "
        "+ ' requires at least ' + string(variables.needGpus) : '',\n"
        # Per-GPU memory (all of the model on one GPU when vLLM cannot split it).
        "variables.perGpuNeedMiB > 0 && variables.skuGpuMiB < variables.perGpuNeedMiB "
        "? 'resource.instanceType: Insufficient per GPU memory: instance type ' + variables.sku "
        "+ ' has ' + params.data[variables.s + 'gpu-memory-gib'] + ' GiB per GPU, but preset ' "
        "+ variables.preset + ' requires at least ' + variables.perGpuNeedGiB + ' GiB per GPU' "
        "+ (variables.vllmCannotSplit ? ' (vLLM cannot split this model across GPUs)' : '') "
        ": '',\n"
        # Total memory over the nodes one instance of the model may use.
        "variables.availableMiB < variables.needTotalMiB "
        "? 'resource.instanceType: Insufficient total GPU memory: ' "
        "+ (variables.usableNodes == 1 "
        "? 'instance type ' + variables.sku + ' has a total of ' "
        "+ params.data[variables.s + 'total-gpu-memory-gib'] + ' GiB' "
        ": string(variables.usableNodes) + ' nodes of instance type ' + variables.sku "
        f"+ ' have a total of ' + {_gib_of_mib('variables.availableMiB')} + ' GiB') "
        "+ ', but preset ' + variables.preset + ' requires at least ' "
        "+ params.data[variables.p + 'inference.total-gpu-memory-gib'] + ' GiB' "
        "+ (variables.splitsAcrossNodes ? '; preset ' + variables.preset "
        "+ ' can be split across nodes, ' + string((variables.needTotalMiB "
        "+ variables.skuTotalMiB - 1) / variables.skuTotalMiB) + ' would fit it' : '') "
        ": ''"
        "\n].filter(m, m != '')",
    ),
    ("tuningKey", "variables.p + 'tuning.' + variables.method + '.gpu-memory-'"),
    (
        "tuningFitProblems",
        "(variables.tuningKey + 'mib') in params.data "
        "&& variables.skuGpuMiB < int(params.data[variables.tuningKey + 'mib']) "
        "? ['resource.instanceType: Insufficient per GPU memory: instance type ' + variables.sku "
        "+ ' has ' + params.data[variables.s + 'gpu-memory-gib'] + ' GiB per GPU, but ' "
        "+ variables.method + ' tuning of preset ' + variables.preset + ' needs ' "
        "+ params.data[variables.tuningKey + 'gib'] "
        "+ ' GiB on every GPU (each GPU trains a full replica)'] : []",
    ),
    (
        "fitProblems",
        "variables.isTuning ? variables.tuningFitProblems : variables.inferenceFitProblems",
    ),
    ("annotationProblems", _annotation_problems()),
)


@dataclasses.dataclass(frozen=True)
class _Validation:
    rule: AdmissionRule
    expression: str
    """What must hold for the Workspace to be admitted."""
    message_expression: str | None = None
    message: str | None = None
    """For a rule whose message never varies."""

    def to_manifest(self) -> dict[str, str]:
        text = (
            {"message": self.message}
            if self.message is not None
            else {"messageExpression": self.message_expression or ""}
        )
        return {"expression": self.expression, **text, "reason": "Invalid"}


_VALIDATIONS: tuple[_Validation, ...] = (
    _Validation(
        AdmissionRule.ANNOTATION_VALUES,
        "variables.annotationProblems.size() == 0",
        "variables.annotationProblems.join('; ')",
    ),
    _Validation(
        AdmissionRule.PRESET_KNOWN,
        "!variables.isCreate || variables.presetName == '' || variables.preset != ''",
        "variables.presetField + ': Unsupported preset name \"' + "
        f"{_echo('variables.presetName')} + '\"' "
        f"+ (variables.presetName.contains('/') ? {_lit(': ' + rules.MODEL_ID_HINT)} : '') "
        f"+ {_lit('; ' + rules.PRESET_LIST_HINT)}",
    ),
    _Validation(
        AdmissionRule.PRESET_NOT_DEPRECATED,
        "!variables.isCreate || variables.preset == '' "
        "|| params.data[variables.p + 'deprecated'] != 'true'",
        "variables.presetField + ': Model ' + variables.preset "
        "+ ' is deprecated and no longer supported' "
        "+ ((variables.p + 'replaced-by') in params.data "
        "? '; use ' + params.data[variables.p + 'replaced-by'] + ' instead' : '')",
    ),
    _Validation(
        AdmissionRule.INSTANCE_TYPE_KNOWN,
        "!variables.isCreate || variables.instanceType == '' || variables.sku != ''",
        "'resource.instanceType: Unsupported instance type \"' + "
        f"{_echo('variables.instanceType')} "
        "+ '\": preset catalog ' + params.data['catalog-version'] + ' does not list it; ' "
        f"+ {_lit(rules.INSTANCE_TYPE_LIST_HINT)}",
    ),
    _Validation(
        AdmissionRule.TUNING_METHOD_SUPPORTED,
        "!variables.isCreate || !variables.isTuning || variables.preset == '' "
        "|| (variables.tuningKey + 'mib') in params.data",
        "'tuning.method: Tuning method ' + variables.method + ' is not supported by preset ' "
        "+ variables.preset + ' (supported: ' "
        "+ (params.data[variables.p + 'tuning-methods'] == '' "
        "? 'none, this preset is not tunable' "
        ": params.data[variables.p + 'tuning-methods'].replace(',', ', ')) + ')'",
    ),
    _Validation(
        AdmissionRule.RUNTIME_SUPPORTED,
        "variables.isTuning || variables.preset == '' || !variables.recheckFit "
        "|| variables.runtime in params.data[variables.p + 'runtimes'].split(',')",
        f"{_lit(f'metadata.annotations[{_RUNTIME}]: Runtime ')} + variables.runtime "
        "+ ' is not supported by preset ' + variables.preset + ' (supported: ' "
        "+ params.data[variables.p + 'runtimes'].replace(',', ', ') + ')'",
    ),
    _Validation(
        AdmissionRule.ADAPTERS_SUPPORTED,
        "variables.isTuning || variables.preset == '' || !variables.recheckFit "
        "|| variables.adapterCount == 0 || variables.runtime != 'vllm' "
        "|| params.data[variables.p + 'vllm.lora-adapters'] == 'true'",
        "'inference.adapters: vLLM cannot serve LoRA adapters for preset ' + variables.preset "
        "+ '; use the transformers runtime or no adapters'",
    ),
    _Validation(
        AdmissionRule.SELECTOR_NOT_RESERVED,
        "!variables.isCreate || !has(object.resource.labelSelector.matchLabels) "
        "|| object.resource.labelSelector.matchLabels.size() == 0 "
        "|| object.resource.labelSelector.matchLabels.exists(k, "
        f"!(k in {_list(rules.RESERVED_SELECTOR_KEYS)}))",
        message=(
            "resource.labelSelector.matchLabels: every key is reserved for the controller ("
            + ", ".join(rules.RESERVED_SELECTOR_KEYS)
            + "); select the nodes with a label of your own"
        ),
    ),
    _Validation(
        AdmissionRule.NODE_COUNT_LIMIT,
        "!variables.isCreate || variables.nodeCount <= variables.maxNodes",
        "'resource.count: ' + string(variables.nodeCount) + ' nodes requested, more than the ' "
        "+ string(variables.maxNodes) + " + _lit(rules.NODE_COUNT_MESSAGE_TAIL),
    ),
    _Validation(
        AdmissionRule.GPU_FIT,
        "variables.bypass || variables.preset == '' || variables.sku == '' "
        "|| !variables.recheckFit || variables.fitProblems.size() == 0",
        f"variables.fitProblems.join('; ') + {_lit(' ' + rules.BYPASS_HINT)}",
    ),
)


def catalog_configmap(
    namespace: str,
    name: str = DEFAULT_CATALOG_CONFIGMAP_NAME,
    *,
    catalog: preset_catalog.Catalog | None = None,
) -> Manifest:
    """The policy's parameter: the catalog exported as a ConfigMap."""
    return preset_catalog.export_configmap(catalog, name=name, namespace=namespace)


def policy_manifests(
    *,
    catalog_configmap_name: str,
    catalog_namespace: str,
    policy_name: str = DEFAULT_POLICY_NAME,
    max_nodes_per_workspace: int | str = rules.DEFAULT_MAX_NODES_PER_WORKSPACE,
) -> list[Manifest]:
    """The ValidatingAdmissionPolicy and its two bindings to the catalog ConfigMap.

    ``max_nodes_per_workspace`` is the global cap on ``resource.count`` (a namespace's annotation
    :data:`~.rules.ANNOTATION_MAX_NODES_PER_WORKSPACE` replaces it there). A string is written as
    is: a template placeholder that the chart replaces with its value (a quoted number).

    Both bindings deny what the rules reject; they differ in what happens when the catalog
    ConfigMap is missing. A CREATE is denied (``parameterNotFoundAction: Deny``: no Workspace gets
    in unchecked); an UPDATE is allowed (``<policy>-updates``, ``Allow``), because updates are
    how the controller adds and removes its finalizer, and a deleted catalog must not leave
    Workspaces stuck in deletion. Such updates go unchecked, which the reconciler's own check
    (:func:`~.checking.admission_violations`) reports.
    """
    labels = {
        "app.kubernetes.io/name": "workspace-controller",
        "app.kubernetes.io/component": "admission",
    }
    policy: Manifest = {
        "apiVersion": POLICY_API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name, "labels": labels},
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
            "matchConstraints": {"resourceRules": [_workspace_rule("CREATE", "UPDATE")]},
            "variables": [
                {"name": name, "expression": expr}
                for name, expr in (("globalMaxNodes", str(max_nodes_per_workspace)), *_VARIABLES)
            ],
            "validations": [v.to_manifest() for v in _VALIDATIONS],
        },
    }

    def binding(name: str, operation: str, not_found: str) -> Manifest:
        return {
            "apiVersion": POLICY_API_VERSION,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "policyName": policy_name,
                "paramRef": {
                    "name": catalog_configmap_name,
                    "namespace": catalog_namespace,
                    "parameterNotFoundAction": not_found,
                },
                "matchResources": {"resourceRules": [_workspace_rule(operation)]},
                "validationActions": ["Deny"],
            },
        }

    return [
        policy,
        binding(policy_name, "CREATE", "Deny"),
        binding(f"{policy_name}{UPDATES_BINDING_SUFFIX}", "UPDATE", "Allow"),
    ]


def _workspace_rule(*operations: str) -> dict[str, list[str]]:
    return {
        "apiGroups": [constants.GROUP],
        "apiVersions": ["v1alpha1", "v1beta1"],
        "operations": list(operations),
        "resources": [constants.PLURAL],
    }


def admission_manifests(
    *,
    namespace: str,
    catalog_configmap_name: str = DEFAULT_CATALOG_CONFIGMAP_NAME,
    policy_name: str = DEFAULT_POLICY_NAME,
    catalog: preset_catalog.Catalog | None = None,
    max_nodes_per_workspace: int | str = rules.DEFAULT_MAX_NODES_PER_WORKSPACE,
) -> list[Manifest]:
    """Everything to apply, in order: the catalog ConfigMap, the policy, its bindings."""
    return [
        catalog_configmap(namespace, catalog_configmap_name, catalog=catalog),
        *policy_manifests(
            catalog_configmap_name=catalog_configmap_name,
            catalog_namespace=namespace,
            policy_name=policy_name,
            max_nodes_per_workspace=max_nodes_per_workspace,
        ),
    ]
