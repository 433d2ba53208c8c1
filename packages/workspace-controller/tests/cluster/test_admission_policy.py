"""The admission policy on the real API server: it compiles, rejects what it should with the
intended message, admits the examples, honours the bypass annotation, and agrees with check_fit.

How it is installed, and why this way:

- once per test session, with its own policy name and a binding limited to namespaces labelled
  ``kaito.sh/admission-policy-test``: the cluster is shared by every test of the session, and
  other tests create Workspaces that this policy must not judge;
- never deleted: kube-apiserver 1.36 stops the ConfigMap parameter informer for good as soon as no
  binding names that paramKind (kubernetes/kubernetes#130887); a policy recreated after that
  reads a frozen catalog, or none;
- a binding takes effect asynchronously, so the fixture creates a known-bad Workspace until the
  policy rejects it, with a deadline, instead of sleeping.

Most requests are server-side dry runs: admission runs in full, nothing is stored, so the cases
need no clean-up and run concurrently.
"""

# Table-driven: one case per line reads better than wrapped rows (as in test_cel_rules.py).
# ruff: noqa: E501

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import random
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

import localcluster
import preset_catalog
from kaito_apis.workspace import v1beta1
from workspace_controller.admission import (
    AdmissionRule,
    AdmissionViolation,
    admission_manifests,
    admission_violations,
    policy_manifests,
)
from workspace_controller.admission.rules import (
    ANNOTATION_MAX_NODES_PER_WORKSPACE,
    BYPASS_HINT,
    node_count_message,
)

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from localcluster import ClusterInfo

ROOT = localcluster.find_repo_root(Path(__file__))
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
SEED = ROOT / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
POLICY = "workspace-catalog-rules-test"
NAMESPACE = "admission-policy-test"
SELECTOR_LABEL = "kaito.sh/admission-policy-test"
VERSIONS = ["kaito.sh/v1alpha1", "kaito.sh/v1beta1"]
DENIED = re.compile(
    rf"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}(-updates)?' denied request: "
)
Doc = dict[str, Any]
Mutation = Callable[[Doc], None]

_installed: set[str] = set()  # API servers this process has installed the policy on


def _tuning(api_version: str = "kaito.sh/v1beta1") -> Doc:
    return {
        "apiVersion": api_version,
        "kind": "Workspace",
        "metadata": {"name": "ws"},
        "resource": {
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": {"app": "tuning"}},
        },
        "tuning": {
            "preset": {"name": "phi-3-mini-128k-instruct"},
            "method": "qlora",
            "input": {"urls": ["https://example.com/data/train.parquet"]},
            "output": {"image": "registry.example.com/adapter:0.0.1", "imagePushSecret": "push"},
        },
    }


def _inference(api_version: str = "kaito.sh/v1beta1") -> Doc:
    doc = _tuning(api_version)
    del doc["tuning"]
    doc["inference"] = {"preset": {"name": "phi-3-mini-4k-instruct"}}
    return doc


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: Doc) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return mutate


def _annotate(**annotations: str) -> Mutation:
    def mutate(doc: Doc) -> None:
        doc["metadata"].setdefault("annotations", {}).update(
            {f"kaito.sh/{k.replace('_', '-')}": v for k, v in annotations.items()}
        )

    return mutate


def _all(*mutations: Mutation) -> Mutation:
    def mutate(doc: Doc) -> None:
        for m in mutations:
            m(doc)

    return mutate


def _path(api_version: str, namespace: str, name: str | None = None) -> str:
    base = f"/apis/{api_version}/namespaces/{namespace}/workspaces"
    return f"{base}/{name}" if name else base


async def _denial(call: Any) -> str | None:
    """None when the request is admitted; else this policy's message (anything else fails)."""
    try:
        await call
    except ApiException as error:
        code, status = error.status, json.loads(error.body or "{}")
    else:
        return None
    message: str = status.get("message", "")
    denied = DENIED.search(message)
    assert denied, f"not denied by the policy: {code} {message}"
    assert (code, status.get("reason")) == (422, "Invalid"), status
    return message[denied.end() :]


def _create(api: ApiClient, doc: Doc, namespace: str = NAMESPACE, *, dry_run: bool = True) -> Any:
    query = [("dryRun", "All")] if dry_run else []
    return localcluster.request(
        api, "POST", _path(doc["apiVersion"], namespace), body=doc, query=query
    )


def _merge_patch(api: ApiClient, doc: Doc, patch: Doc, namespace: str) -> Any:
    return localcluster.request(
        api,
        "PATCH",
        _path(doc["apiVersion"], namespace, doc["metadata"]["name"]),
        body=patch,
        content_type="application/merge-patch+json",
    )


def _undersized(api_version: str = "kaito.sh/v1beta1") -> Doc:
    doc = _inference(api_version)
    doc["inference"]["preset"]["name"] = "phi-3-medium-128k-instruct"
    return doc


async def _wait_until_enforced(api: ApiClient, namespace: str) -> None:
    async def rejected() -> bool:
        return await _denial(_create(api, _undersized(), namespace)) is not None

    await localcluster.poll_until(
        rejected, description=f"policy {POLICY} enforced in {namespace}", timeout_seconds=60
    )


async def _label_namespace(api: ApiClient, namespace: str, label: str = SELECTOR_LABEL) -> None:
    await localcluster.request(
        api,
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        body={"metadata": {"labels": {label: "true"}}},
        content_type="application/merge-patch+json",
    )


def _select_namespaces(binding: Doc, label: str) -> None:
    binding["spec"]["matchResources"]["namespaceSelector"] = {"matchLabels": {label: "true"}}


@pytest.fixture
async def policy(kube_cluster: ClusterInfo, kube_api: ApiClient) -> str:
    """Install CRDs, catalog, policy and binding once per session; return the test namespace."""
    if kube_cluster.server in _installed:
        return NAMESPACE
    await localcluster.apply_manifests(kube_api, sorted((ROOT / "crds").glob("*.yaml")))
    namespace: Doc = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {SELECTOR_LABEL: "true"}},
    }
    manifests = admission_manifests(namespace=NAMESPACE, policy_name=POLICY)
    for binding in manifests[2:]:
        _select_namespaces(binding, SELECTOR_LABEL)
    await localcluster.apply_manifests(kube_api, [namespace, *manifests])
    await _wait_until_enforced(kube_api, NAMESPACE)
    _installed.add(kube_cluster.server)
    return NAMESPACE


def _expected_message(violations: list[AdmissionViolation]) -> str:
    """What the policy says for these mirror findings: the first rule's findings, joined."""
    first = violations[0].rule
    text = "; ".join(str(v) for v in violations if v.rule is first)
    return f"{text} {BYPASS_HINT}" if first is AdmissionRule.GPU_FIT else text


def _mirror(doc: Doc) -> list[AdmissionViolation]:
    return admission_violations(
        v1beta1.Workspace.model_validate({**doc, "apiVersion": "kaito.sh/v1beta1"})
    )


async def test_policy_compiles_without_type_warnings(policy: str, kube_api: ApiClient) -> None:
    del policy

    async def type_checked() -> dict[str, Any] | None:
        # The API server type-checks a policy asynchronously and then records the result.
        stored = await localcluster.get_object(
            kube_api, "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", POLICY
        )
        assert stored is not None
        status: dict[str, Any] = stored.get("status") or {}
        return (
            status if status.get("observedGeneration") == stored["metadata"]["generation"] else None
        )

    status = await localcluster.poll_until(type_checked, description="the policy is type-checked")
    assert not status.get("typeChecking", {}).get("expressionWarnings"), status


ADAPTER = [{"source": {"name": "a", "image": "registry.example.com/a:1"}}]
FIT_HINT = " " + BYPASS_HINT

# (id, base, mutation, the policy's whole message)
REJECTED: list[tuple[str, Callable[[str], Doc], Mutation, str]] = [
    ("runtime-annotation", _inference, _annotate(runtime="tgi"), 'metadata.annotations[kaito.sh/runtime]: unsupported value "tgi", must be one of vllm, transformers'),
    ("two-annotations", _inference, _annotate(node_image_family="windows", performance_mode="fast"), 'metadata.annotations[kaito.sh/node-image-family]: unsupported value "windows", must be one of ubuntu, azurelinux; metadata.annotations[kaito.sh/performance-mode]: unsupported value "fast", must be one of balanced, interactivity, throughput'),
    ("local-weights", _tuning, _annotate(use_local_weights="yes"), 'metadata.annotations[kaito.sh/use-local-weights]: unsupported value "yes", must be one of true, false'),
    ("unknown-preset", _inference, _set("inference.preset.name", "phi-5"), 'inference.preset.name: Unsupported preset name "phi-5"; `python -m preset_catalog list` shows every preset'),
    ("unknown-tuning-preset", _tuning, _set("tuning.preset.name", "phi-5"), 'tuning.preset.name: Unsupported preset name "phi-5"; `python -m preset_catalog list` shows every preset'),
    ("unknown-model-id", _inference, _set("inference.preset.name", "someorg/some-model"), 'inference.preset.name: Unsupported preset name "someorg/some-model": Hugging Face model ids are accepted only where the catalog lists them as an alias of a preset; `python -m preset_catalog list` shows every preset'),
    ("model-id-underscore", _inference, _set("inference.preset.name", "microsoft_phi-4"), 'inference.preset.name: Unsupported preset name "microsoft_phi-4"; `python -m preset_catalog list` shows every preset'),
    ("deprecated", _inference, _set("inference.preset.name", "phi-2"), "inference.preset.name: Model phi-2 is deprecated and no longer supported; use phi-3.5-mini-instruct instead"),
    ("deprecated-via-alias", _tuning, _set("tuning.preset.name", "Microsoft/Phi-2"), "tuning.preset.name: Model phi-2 is deprecated and no longer supported; use phi-3.5-mini-instruct instead"),
    ("unknown-sku", _inference, _set("resource.instanceType", "Standard_NC6"), 'resource.instanceType: Unsupported instance type "Standard_NC6": preset catalog 0.1.0 does not list it; `python -m preset_catalog list --instance-types` shows every supported instance type'),
    ("no-azure-leniency", _tuning, _set("resource.instanceType", "Standard_NC999_v9"), 'resource.instanceType: Unsupported instance type "Standard_NC999_v9": preset catalog 0.1.0 does not list it; `python -m preset_catalog list --instance-types` shows every supported instance type'),
    ("untunable", _tuning, _set("tuning.preset.name", "mistral-7b-instruct"), "tuning.method: Tuning method qlora is not supported by preset mistral-7b-instruct (supported: none, this preset is not tunable)"),
    ("runtime-unsupported", _inference, _all(_set("inference.preset.name", "phi-4-mini-instruct"), _annotate(runtime="transformers")), "metadata.annotations[kaito.sh/runtime]: Runtime transformers is not supported by preset phi-4-mini-instruct (supported: vllm)"),
    ("vllm-adapters", _inference, _all(_set("inference.preset.name", "falcon-7b"), _set("inference.adapters", ADAPTER)), "inference.adapters: vLLM cannot serve LoRA adapters for preset falcon-7b; use the transformers runtime or no adapters"),
    ("reserved-selector", _inference, _set("resource.labelSelector", {"matchLabels": {"kaito.sh/workspace": "ws"}}), "resource.labelSelector.matchLabels: every key is reserved for the controller (kaito.sh/ragengine, kaito.sh/ragenginenamespace, kaito.sh/workspace, kaito.sh/workspacenamespace, karpenter.kaito.sh/inferenceset, karpenter.kaito.sh/inferenceset-namespace, karpenter.kaito.sh/workspace-name, karpenter.kaito.sh/workspace-namespace); select the nodes with a label of your own"),
    ("inference-memory", _inference, _set("inference.preset.name", "phi-3-medium-128k-instruct"), "resource.instanceType: Insufficient total GPU memory: instance type Standard_NC6s_v3 has a total of 16 GiB, but preset phi-3-medium-128k-instruct requires at least 28 GiB; preset phi-3-medium-128k-instruct can be split across nodes, 2 would fit it" + FIT_HINT),
    ("tuning-memory", _tuning, _all(_set("tuning.preset.name", "phi-3-medium-128k-instruct"), _set("tuning.method", "LoRA")), "resource.instanceType: Insufficient per GPU memory: instance type Standard_NC6s_v3 has 16 GiB per GPU, but lora tuning of preset phi-3-medium-128k-instruct needs 32.5 GiB on every GPU (each GPU trains a full replica)" + FIT_HINT),
    ("two-nodes-too-few", _inference, _all(_set("inference.preset.name", "phi-4"), _set("resource.count", 2)), "resource.instanceType: Insufficient total GPU memory: 2 nodes of instance type Standard_NC6s_v3 have a total of 32 GiB, but preset phi-4 requires at least 40 GiB; preset phi-4 can be split across nodes, 3 would fit it" + FIT_HINT),
    ("vllm-cannot-split", _inference, _all(_set("inference.preset.name", "falcon-40b"), _set("resource.instanceType", "Standard_NC48ads_A100_v4"), _annotate(runtime="vllm")), "resource.instanceType: Insufficient per GPU memory: instance type Standard_NC48ads_A100_v4 has 80 GiB per GPU, but preset falcon-40b requires at least 90 GiB per GPU (vLLM cannot split this model across GPUs)" + FIT_HINT),
    ("not-across-nodes", _inference, _all(_set("inference.preset.name", "falcon-40b"), _set("resource.count", 2)), "resource.count: Multi-node distributed inference is not supported for preset falcon-40b: one Standard_NC6s_v3 node has 16 GiB of GPU memory, the model needs 90 GiB; choose a larger instance type; resource.instanceType: Insufficient number of GPUs: instance type Standard_NC6s_v3 provides 1 GPU(s) to one instance of the model, but preset falcon-40b requires at least 2; resource.instanceType: Insufficient total GPU memory: instance type Standard_NC6s_v3 has a total of 16 GiB, but preset falcon-40b requires at least 90 GiB" + FIT_HINT),
    # resource.count: the chart's global cap (10 by default; the CRD's ceiling is 100).
    ("too-many-nodes", _inference, _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _set("resource.count", 11)), "resource.count: 11 nodes requested, more than the 10 a Workspace may use here; a cluster administrator sets this limit (chart value provisioning.maxNodesPerWorkspace, or the namespace annotation kaito.sh/max-nodes-per-workspace)"),
    # instanceType is matched case-insensitively, and the message names the catalog's spelling.
    ("sku-lower-case-undersized", _inference, _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _set("resource.instanceType", "standard_nc6s_v3")), "resource.instanceType: Insufficient total GPU memory: instance type Standard_NC6s_v3 has a total of 16 GiB, but preset phi-3-medium-128k-instruct requires at least 28 GiB; preset phi-3-medium-128k-instruct can be split across nodes, 2 would fit it" + FIT_HINT),
    ("sku-unicode-lookalike", _inference, _set("resource.instanceType", "Standard_NC6\u0455_v3"), 'resource.instanceType: Unsupported instance type "Standard_NC6\u0455_v3": preset catalog 0.1.0 does not list it; `python -m preset_catalog list --instance-types` shows every supported instance type'),
    # Messages repeat user input cut to 64 characters and on one line (issue #13: an oversized
    # runtime annotation made the user read "failed expression: ...").
    ("huge-runtime-annotation", _inference, _annotate(runtime="x" * 200_000), 'metadata.annotations[kaito.sh/runtime]: unsupported value "' + "x" * 64 + '\u2026", must be one of vllm, transformers'),
    ("multi-line-annotation", _inference, _annotate(performance_mode="fast\nslow\r\n"), 'metadata.annotations[kaito.sh/performance-mode]: unsupported value "fast slow  ", must be one of balanced, interactivity, throughput'),
    ("unicode-annotations", _inference, _annotate(node_image_family="\U0001f600" * 70, use_local_weights="\u202eyes"), 'metadata.annotations[kaito.sh/node-image-family]: unsupported value "' + "\U0001f600" * 64 + '\u2026", must be one of ubuntu, azurelinux; metadata.annotations[kaito.sh/use-local-weights]: unsupported value "\u202eyes", must be one of true, false'),
    ("long-unicode-preset", _inference, _set("inference.preset.name", "\u00e9" * 253), 'inference.preset.name: Unsupported preset name "' + "\u00e9" * 64 + '\u2026"; `python -m preset_catalog list` shows every preset'),
    ("multi-line-preset", _tuning, _set("tuning.preset.name", "phi-3\nmini"), 'tuning.preset.name: Unsupported preset name "phi-3 mini"; `python -m preset_catalog list` shows every preset'),
    ("long-model-id", _inference, _set("inference.preset.name", "org/" + "m" * 249), 'inference.preset.name: Unsupported preset name "org/' + "m" * 60 + '\u2026": Hugging Face model ids are accepted only where the catalog lists them as an alias of a preset; `python -m preset_catalog list` shows every preset'),
    ("long-sku", _inference, _set("resource.instanceType", "S" * 128), 'resource.instanceType: Unsupported instance type "' + "S" * 64 + '\u2026": preset catalog 0.1.0 does not list it; `python -m preset_catalog list --instance-types` shows every supported instance type'),
]  # fmt: skip

# The rules whose Python message adds did-you-mean suggestions the policy cannot compute.
_NAME_RULES = {AdmissionRule.PRESET_KNOWN, AdmissionRule.INSTANCE_TYPE_KNOWN}


@pytest.mark.parametrize("api_version", VERSIONS)
@pytest.mark.parametrize(
    ("case", "base", "mutate", "message"), REJECTED, ids=[c[0] for c in REJECTED]
)
async def test_bad_workspace_is_rejected_with_its_message(
    policy: str,
    kube_api: ApiClient,
    api_version: str,
    case: str,
    base: Callable[[str], Doc],
    mutate: Mutation,
    message: str,
) -> None:
    del case
    doc = base(api_version)
    mutate(doc)
    assert await _denial(_create(kube_api, doc, policy)) == message
    mirror = _mirror(doc)
    assert mirror, "the Python mirror admits what the policy rejects"
    if mirror[0].rule not in _NAME_RULES:
        assert _expected_message(mirror) == message


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
async def test_example_is_accepted(policy: str, kube_api: ApiClient, path: Path) -> None:
    for doc in localcluster.load_manifests(path):
        assert await _denial(_create(kube_api, doc, policy)) is None


async def test_seed_manifest_is_applied_and_stored(policy: str, kube_api: ApiClient) -> None:
    doc = localcluster.load_manifests(SEED)[0]
    doc["metadata"]["name"] = f"seed-{secrets.token_hex(3)}"
    stored = await _create(kube_api, doc, policy, dry_run=False)
    try:
        assert stored["tuning"]["preset"]["name"] == "phi-3-mini-128k-instruct"
    finally:
        await localcluster.delete_object(
            kube_api, doc["apiVersion"], "Workspace", doc["metadata"]["name"], namespace=policy
        )


ACCEPTED: list[tuple[str, Callable[[str], Doc], Mutation]] = [
    ("bypass-inference", _inference, _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _annotate(bypass_resource_checks=""))),
    ("bypass-tuning", _tuning, _all(_set("tuning.preset.name", "phi-4"), _set("tuning.method", "lora"), _annotate(bypass_resource_checks="true"))),
    ("preset-any-case", _inference, _set("inference.preset.name", "Phi-3-Mini-4K-Instruct")),
    ("model-id-alias", _inference, _set("inference.preset.name", "microsoft/Phi-3-mini-4k-instruct")),
    ("legacy-alias", _tuning, _set("tuning.preset.name", "mistral-7b-v0.3")),
    ("sku-any-case", _inference, _set("resource.instanceType", "STANDARD_NC6S_V3")),
    ("sku-alias", _inference, _set("resource.instanceType", "Standard_ND96asr_v4")),
    ("no-instance-type", _inference, _all(_set("inference.preset.name", "falcon-40b"), _set("resource.instanceType", ""))),
    ("template", _inference, _set("inference", {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}})),
    ("split-across-nodes", _inference, _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _set("resource.count", 2))),
    ("own-label-beside-reserved", _inference, _set("resource.labelSelector", {"matchLabels": {"kaito.sh/workspace": "ws", "app": "a"}})),
    ("annotation-values", _inference, _annotate(runtime="transformers", node_image_family="azurelinux", performance_mode="throughput", use_local_weights="false")),
    ("adapters-with-transformers", _inference, _all(_set("inference.preset.name", "falcon-7b"), _annotate(runtime="transformers"), _set("inference.adapters", ADAPTER))),
    ("aws-sku", _tuning, _set("resource.instanceType", "g5.xlarge")),
    ("sku-lower-case", _inference, _set("resource.instanceType", "standard_nc6s_v3")),
    ("sku-lower-case-tuning", _tuning, _set("resource.instanceType", "standard_nc6s_v3")),
    ("nodes-at-the-cap", _inference, _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _set("resource.count", 10))),
    ("unknown-annotation-huge", _inference, lambda doc: doc["metadata"].setdefault("annotations", {}).update({"example.com/notes": "\u00e9\n" * 50_000})),
]  # fmt: skip


@pytest.mark.parametrize("api_version", VERSIONS)
@pytest.mark.parametrize(("case", "base", "mutate"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
async def test_valid_variant_is_accepted(
    policy: str,
    kube_api: ApiClient,
    api_version: str,
    case: str,
    base: Callable[[str], Doc],
    mutate: Mutation,
) -> None:
    del case
    doc = base(api_version)
    mutate(doc)
    assert await _denial(_create(kube_api, doc, policy)) is None
    assert _mirror(doc) == []


# A sample of the catalog: every preset on a spread of GPUs (1 or 2 small ones, 4 mid-size, one or
# two large), served with each runtime and on two nodes, and tuned with each method.
SKUS = [
    "Standard_NC6s_v3",
    "Standard_NC12s_v3",
    "Standard_NV36ads_A10_v5",
    "g5.12xlarge",
    "Standard_NC24ads_A100_v4",
    "Standard_NC48ads_A100_v4",
]
MODES: dict[str, Callable[[str], Doc]] = {
    "serve": lambda preset: _with(_inference(), _set("inference.preset.name", preset)),
    "serve-transformers": lambda preset: _with(
        _inference(), _set("inference.preset.name", preset), _annotate(runtime="transformers")
    ),
    "serve-vllm-2-nodes": lambda preset: _with(
        _inference(),
        _set("inference.preset.name", preset),
        _annotate(runtime="vllm"),
        _set("resource.count", 2),
    ),
    "tune-qlora": lambda preset: _with(_tuning(), _set("tuning.preset.name", preset)),
    "tune-lora": lambda preset: _with(
        _tuning(), _set("tuning.preset.name", preset), _set("tuning.method", "lora")
    ),
}


def _with(doc: Doc, *mutations: Mutation) -> Doc:
    for m in mutations:
        m(doc)
    return doc


async def test_policy_agrees_with_check_fit_over_the_catalog(
    policy: str, kube_api: ApiClient
) -> None:
    """Verdict and message of the policy equal the Python mirror's (check_fit's numbers)."""
    cases: list[tuple[str, Doc]] = []
    for preset in preset_catalog.load_catalog().presets:
        for sku in SKUS:
            for mode, build in MODES.items():
                doc = build(preset.name)
                doc["resource"]["instanceType"] = sku
                cases.append((f"{preset.name} on {sku}, {mode}", doc))
    limit = asyncio.Semaphore(16)

    async def verdict(doc: Doc) -> str | None:
        async with limit:
            return await _denial(_create(kube_api, doc, policy))

    answers = await asyncio.gather(*(verdict(doc) for _, doc in cases))
    mismatches = []
    rejected = 0
    for (label, doc), answer in zip(cases, answers, strict=True):
        mirror = _mirror(doc)
        expected = _expected_message(mirror) if mirror else None
        rejected += answer is not None
        if answer != expected:
            mismatches.append(f"{label}:\n  policy: {answer}\n  python: {expected}")
    assert not mismatches, "\n".join(mismatches)
    assert 0 < rejected < len(cases), "the sample should hold both verdicts"


async def test_update_rechecks_only_what_can_change(policy: str, kube_api: ApiClient) -> None:
    doc = _with(_undersized(), _annotate(bypass_resource_checks=""))
    doc["metadata"]["name"] = f"update-{secrets.token_hex(3)}"
    await _create(kube_api, doc, policy, dry_run=False)
    try:
        relabel = {"metadata": {"labels": {"a": "b"}}}
        assert await _denial(_merge_patch(kube_api, doc, relabel, policy)) is None
        bypass_off = {"metadata": {"annotations": {"kaito.sh/bypass-resource-checks": None}}}
        denial = await _denial(_merge_patch(kube_api, doc, bypass_off, policy))
        assert denial is not None
        assert denial.startswith("resource.instanceType: Insufficient total GPU memory")
        bad_runtime = {"metadata": {"annotations": {"kaito.sh/runtime": "tgi"}}}
        denial = await _denial(_merge_patch(kube_api, doc, bad_runtime, policy))
        assert denial == (
            'metadata.annotations[kaito.sh/runtime]: unsupported value "tgi", '
            "must be one of vllm, transformers"
        )
        transformers = {"metadata": {"annotations": {"kaito.sh/runtime": "transformers"}}}
        assert await _denial(_merge_patch(kube_api, doc, transformers, policy)) is None
    finally:
        await localcluster.delete_object(
            kube_api, doc["apiVersion"], "Workspace", doc["metadata"]["name"], namespace=policy
        )


async def test_workspace_admitted_before_the_policy_stays_updatable(
    policy: str, kube_api: ApiClient, kube_namespace: str
) -> None:
    """A preset the catalog does not know (say, dropped since) must not block the controller."""
    del policy
    doc = _inference()
    doc["inference"]["preset"]["name"] = "not-in-the-catalog"
    await _create(kube_api, doc, kube_namespace, dry_run=False)  # the policy ignores this namespace
    await _label_namespace(kube_api, kube_namespace)
    await _wait_until_enforced(kube_api, kube_namespace)

    finalizer = {"metadata": {"finalizers": ["workspace.finalizer.kaito.sh"], "labels": {"a": "b"}}}
    assert await _denial(_merge_patch(kube_api, doc, finalizer, kube_namespace)) is None
    bad_mode = {"metadata": {"annotations": {"kaito.sh/performance-mode": "fast"}}}
    assert await _denial(_merge_patch(kube_api, doc, bad_mode, kube_namespace)) is not None
    released = {"metadata": {"finalizers": None}}
    assert await _denial(_merge_patch(kube_api, doc, released, kube_namespace)) is None
    assert (await _denial(_create(kube_api, copy.deepcopy(doc), kube_namespace))) == (
        'inference.preset.name: Unsupported preset name "not-in-the-catalog"; '
        "`python -m preset_catalog list` shows every preset"
    )


async def test_missing_catalog_denies_creates_but_not_updates(
    policy: str, kube_api: ApiClient, kube_namespace: str
) -> None:
    """Without its catalog the policy fails closed on CREATE, and lets the finalizer go."""
    del policy
    doc = _inference()
    await _create(kube_api, doc, kube_namespace, dry_run=False)  # before any binding selects it
    label = f"admission-test-{secrets.token_hex(3)}"
    _, *bindings = policy_manifests(
        catalog_configmap_name="no-such-catalog",
        catalog_namespace=kube_namespace,
        policy_name=POLICY,
    )
    for binding in bindings:
        binding["metadata"]["name"] += f"-{label}"
        _select_namespaces(binding, label)
    await localcluster.apply_manifests(kube_api, bindings)
    try:
        await _label_namespace(kube_api, kube_namespace, label)

        probe = _with(_inference(), _set("metadata.name", "probe"))

        async def denied() -> str | None:
            try:
                await _create(kube_api, probe, kube_namespace)
            except ApiException as error:
                return str(json.loads(error.body or "{}").get("message"))
            return None

        message = await localcluster.poll_until(
            denied, description="binding without a catalog denies", timeout_seconds=60
        )
        assert "no params found for policy binding with `Deny` parameterNotFoundAction" in message
        finalizer = {"metadata": {"finalizers": ["workspace.finalizer.kaito.sh"]}}
        await _merge_patch(kube_api, doc, finalizer, kube_namespace)
        await _merge_patch(kube_api, doc, {"metadata": {"finalizers": None}}, kube_namespace)
    finally:
        # Safe to delete: the session's main bindings keep the ConfigMap informer alive.
        for binding in bindings:
            await localcluster.delete_object(
                kube_api,
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicyBinding",
                binding["metadata"]["name"],
            )


async def _annotate_namespace(api: ApiClient, namespace: str, value: str | None) -> None:
    await localcluster.request(
        api,
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        body={"metadata": {"annotations": {ANNOTATION_MAX_NODES_PER_WORKSPACE: value}}},
        content_type="application/merge-patch+json",
    )


async def test_namespace_annotation_replaces_the_node_cap(
    policy: str, kube_api: ApiClient, kube_namespace: str
) -> None:
    """A cluster administrator's annotation on a Namespace sets that namespace's cap."""
    del policy
    await _label_namespace(kube_api, kube_namespace)
    await _wait_until_enforced(kube_api, kube_namespace)

    def with_count(count: int) -> Doc:
        return _with(
            _inference(),
            _set("inference.preset.name", "phi-3-medium-128k-instruct"),
            _set("resource.count", count),
        )

    async def verdict_settles(count: int, expected: str | None) -> None:
        async def settled() -> bool:
            return await _denial(_create(kube_api, with_count(count), kube_namespace)) == expected

        # The API server reads the Namespace from its informer: give it a moment to see a change.
        await localcluster.poll_until(
            settled, description=f"count {count} -> {expected}", timeout_seconds=30
        )

    def over(count: int, limit: int) -> str:
        return f"resource.count: {node_count_message(count, limit)}"

    await _annotate_namespace(kube_api, kube_namespace, "2")
    await verdict_settles(3, over(3, 2))
    await verdict_settles(2, None)
    await _annotate_namespace(kube_api, kube_namespace, "40")
    await verdict_settles(40, None)
    await verdict_settles(41, over(41, 40))
    await _annotate_namespace(kube_api, kube_namespace, "0")
    await verdict_settles(1, over(1, 0))
    # Unreadable values are ignored: the global cap (10) applies, and nothing fails to evaluate.
    for unreadable in ("many", "-1", "12345", "1e3", " 5", "\u0664"):
        await _annotate_namespace(kube_api, kube_namespace, unreadable)
        await verdict_settles(11, over(11, 10))
    await _annotate_namespace(kube_api, kube_namespace, None)
    await verdict_settles(10, None)


# (id, mutation of an inference Workspace, the field the message must start with)
ODD_INPUTS: list[tuple[str, Mutation, str]] = [
    ("runtime-256k", _annotate(runtime="r" * (256 * 1024 - 200)), "metadata.annotations[kaito.sh/runtime]"),
    ("runtime-newlines", _annotate(runtime="\n" * 5000), "metadata.annotations[kaito.sh/runtime]"),
    ("runtime-empty", _annotate(runtime=""), "metadata.annotations[kaito.sh/runtime]"),
    ("runtime-space", _annotate(runtime=" "), "metadata.annotations[kaito.sh/runtime]"),
    ("runtime-nul-and-bidi", _annotate(runtime="\x00\u202e\u200b"), "metadata.annotations[kaito.sh/runtime]"),
    ("every-annotation-huge", _annotate(runtime="\U0001f600" * 10_000, node_image_family="\u00e9" * 10_000, performance_mode="p" * 10_000, use_local_weights="\r\n" * 10_000), "metadata.annotations[kaito.sh/runtime]"),
    ("preset-253-emoji", _set("inference.preset.name", "\U0001f600" * 253), "inference.preset.name"),
    ("preset-newlines", _set("inference.preset.name", "\n" * 253), "inference.preset.name"),
    ("preset-slashes", _set("inference.preset.name", "/" * 253), "inference.preset.name"),
    ("preset-quotes", _set("inference.preset.name", "'\"\\" * 80), "inference.preset.name"),
    ("sku-128-unicode", _set("resource.instanceType", "\u0130" * 128), "resource.instanceType"),
    ("sku-newlines", _set("resource.instanceType", "\r\n" * 64), "resource.instanceType"),
    ("count-100", _all(_set("inference.preset.name", "phi-3-medium-128k-instruct"), _set("resource.count", 100)), "resource.count"),
    ("fit-huge-count", _all(_set("inference.preset.name", "falcon-40b"), _set("resource.count", 10)), "resource.count"),
    ("runtime-and-huge-bypass", _all(_set("inference.preset.name", "phi-4-mini-instruct"), _annotate(runtime="transformers", bypass_resource_checks="b" * 100_000)), "metadata.annotations[kaito.sh/runtime]"),
    ("adapters-and-unicode", _all(_set("inference.preset.name", "falcon-7b"), _set("inference.adapters", [{"source": {"name": "a", "image": "registry.example.com/\u00e9:1"}}])), "inference.adapters"),
    ("deprecated-with-odd-annotations", _all(_set("inference.preset.name", "phi-2"), _annotate(performance_mode="balanced", node_image_family="ubuntu")), "inference.preset.name"),
]  # fmt: skip

MESSAGE_LIMIT_BYTES = 5 * 1024  # the API server drops a longer message expression result


@pytest.mark.parametrize("api_version", VERSIONS)
@pytest.mark.parametrize(("case", "mutate", "field"), ODD_INPUTS, ids=[c[0] for c in ODD_INPUTS])
async def test_every_message_is_total(
    policy: str, kube_api: ApiClient, api_version: str, case: str, mutate: Mutation, field: str
) -> None:
    """Oversized and odd input gets the rule's own message: one line, bounded, field first."""
    del case
    doc = _with(_inference(api_version), mutate)
    denial = await _denial(_create(kube_api, doc, policy))
    assert denial is not None
    assert "failed expression" not in denial
    assert "\n" not in denial
    assert len(denial.encode()) < MESSAGE_LIMIT_BYTES
    assert denial.startswith(f"{field}: "), denial
    mirror = _mirror(doc)
    assert mirror, "the Python mirror admits what the policy rejects"
    if mirror[0].rule not in _NAME_RULES:
        assert _expected_message(mirror) == denial


# -- fuzzing -----------------------------------------------------------------------------------
# Seeded random mutations of the examples/ manifests, sent to the API server as dry-run creates
# (the CRD schema, its CEL rules and this policy all run; nothing is stored). Each must be either
# rejected with a message that names a field, or accepted, parse into the controller's model and
# pass the Python mirror. WORKSPACE_FUZZ_SEED / WORKSPACE_FUZZ_COUNT replay or widen a run.

FUZZ_SEED = int(os.environ.get("WORKSPACE_FUZZ_SEED", "13"))
FUZZ_COUNT = int(os.environ.get("WORKSPACE_FUZZ_COUNT", "1200"))

ODD_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "a b",
    "-bad-",
    "a/b/c",
    "UPPER",
    "caf\u00e9",
    "\u202eevil",
    "\u200b",
    "\U0001f600",
    "line\nbreak",
    "tab\tstop",
    "\x00",
    "'\"\\",
    "x" * 64,
    "x" * 300,
    "y" * 70_000,
    "https://127.0.0.1.nip.io/d",
    "http://[::1]/d",
    "Standard_NC6s_v3",
    "standard_nc6s_v3",
    "phi-3-mini-4k-instruct",
    "microsoft/phi-4",
    "qlora",
    "vllm",
    "transformers",
    "true",
)
ODD_NUMBERS: tuple[Any, ...] = (0, -1, 1, 2, 10, 11, 100, 101, 1000, 2**31, 2**63 - 1, 2**64, 1.5)
ODD_VALUES: tuple[Any, ...] = (*ODD_STRINGS, *ODD_NUMBERS, None, True, [], {}, ["a"], {"a": 1})
LABEL_KEYS = ("app", "example.com/team", "a/b/c", "", "-bad-", "k" * 64, "A" * 63, "x/" + "y" * 63, "caf\u00e9", "a b", "kaito.sh/workspace", "kubernetes.io/os", ("a" * 60 + ".") * 4 + "a" * 10 + "/k")  # fmt: skip
LABEL_VALUES = ("v", "", "a b", "-bad-", "v" * 63, "v" * 64, "caf\u00e9", "1.0_x-y", "a\n")
VOLUME_SOURCES: tuple[Any, ...] = (
    {"persistentVolumeClaim": {"claimName": "data"}},
    {"emptyDir": {}},
    {"emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
    {"configMap": {"name": "cm"}},
    {"secret": {"secretName": "s"}},
    {"csi": {"driver": "blob.csi.azure.com"}},
    {"azureFile": {"secretName": "s", "shareName": "share"}},
    {"azureDisk": {"diskName": "d", "diskURI": "/subscriptions/x/d"}},
    {"ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
    {"hostPath": {"path": "/"}},
    {"hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}},
    {"nfs": {"server": "10.0.0.1", "path": "/"}},
    {"iscsi": {"targetPortal": "t", "iqn": "i", "lun": 0}},
    {"gitRepo": {"repository": "https://example.com/r"}},
    {"flexVolume": {"driver": "d"}},
    {"projected": {"sources": []}},
    {"image": {"reference": "registry.example.com/i:1"}},
    {"madeUp": {}},
    {"emptyDir": {}, "hostPath": {"path": "/"}},
    {"emptyDir": {}, "secret": {"secretName": "s"}},
    {},
    {"hostPath": "/"},
    "hostPath",
    [],
)
ANNOTATION_KEYS = (
    "kaito.sh/runtime",
    "kaito.sh/node-image-family",
    "kaito.sh/performance-mode",
    "kaito.sh/use-local-weights",
    "kaito.sh/bypass-resource-checks",
    "example.com/free-form",
)

Fuzz = Callable[[Doc, random.Random], None]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every key and list item below ``node`` (apiVersion and kind excluded)."""
    found: list[tuple[Any, ...]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        if path == () and key in ("apiVersion", "kind"):
            continue
        found.append((*path, key))
        found += _leaves(value, (*path, key))
    return found


def _container(doc: Doc, path: tuple[Any, ...]) -> Any:
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    return node


def _fuzz_replace_leaf(doc: Doc, rng: random.Random) -> None:
    path = rng.choice(_leaves(doc))
    _container(doc, path)[path[-1]] = rng.choice(ODD_VALUES)


def _fuzz_drop_leaf(doc: Doc, rng: random.Random) -> None:
    path = rng.choice(_leaves(doc))
    del _container(doc, path)[path[-1]]


def _fuzz_count(doc: Doc, rng: random.Random) -> None:
    doc["resource"]["count"] = rng.choice((*ODD_NUMBERS, "1", "3"))


def _fuzz_selector(doc: Doc, rng: random.Random) -> None:
    size = rng.choice((1, 2, 5, 32, 33, 3000))
    selector: Doc = {}
    if rng.random() < 0.6:
        selector["matchLabels"] = {
            rng.choice(LABEL_KEYS) + ("" if i == 0 else str(i)): rng.choice(LABEL_VALUES)
            for i in range(size)
        }
    if rng.random() < 0.5:
        selector["matchExpressions"] = [
            {
                "key": rng.choice(LABEL_KEYS),
                "operator": rng.choice(("In", "NotIn", "Exists", "DoesNotExist", "Gt", "in")),
                **(
                    {"values": rng.sample(LABEL_VALUES, rng.randint(0, 3))}
                    if rng.random() < 0.8
                    else {}
                ),
            }
            for _ in range(min(size, rng.choice((1, 2, 33))))
        ]
    doc["resource"]["labelSelector"] = selector


def _fuzz_volume(doc: Doc, rng: random.Random) -> None:
    source = copy.deepcopy(rng.choice(VOLUME_SOURCES))
    if "tuning" in doc:
        part = doc["tuning"][rng.choice(("input", "output"))]
        part.clear()
        part["volumeSource"] = source
    else:
        adapter = {"source": {"name": "adapter", "volumeSource": source}}
        doc["inference"]["adapters"] = [adapter]


def _fuzz_annotations(doc: Doc, rng: random.Random) -> None:
    annotations = doc["metadata"].setdefault("annotations", {})
    for _ in range(rng.randint(1, 3)):
        annotations[rng.choice(ANNOTATION_KEYS)] = rng.choice(
            (*ODD_STRINGS, "vllm", "transformers", "ubuntu", "azurelinux", "balanced", "false")
        )


def _fuzz_names(doc: Doc, rng: random.Random) -> None:
    names = (*ODD_STRINGS, *(p.name for p in preset_catalog.load_catalog().presets[:8]))
    if rng.random() < 0.5:
        doc["resource"]["instanceType"] = rng.choice(
            (*ODD_STRINGS, "STANDARD_NC24ADS_A100_V4", "standard_nc12s_v3", "g5.XLARGE", "S" * 128)
        )
    elif "tuning" in doc:
        doc["tuning"]["preset"]["name"] = rng.choice(names)
    elif "preset" in doc["inference"]:
        doc["inference"]["preset"]["name"] = rng.choice(names)


def _fuzz_mode(doc: Doc, rng: random.Random) -> None:
    choice = rng.randrange(5)
    if choice == 0:
        doc["apiVersion"] = rng.choice(VERSIONS)
    elif choice == 1 and "inference" in doc:
        doc["inference"] = {"template": rng.choice(({}, {"spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "i", "securityContext": {"privileged": True}}]}}, {"spec": "x"}, {"unknown": [1, 2]}))}  # fmt: skip
    elif choice == 2 and "tuning" in doc:
        doc["tuning"]["input"] = {"urls": rng.sample(ODD_STRINGS, rng.randint(0, 3))}
    elif choice == 3 and "inference" in doc:
        doc["inference"]["adapters"] = [
            {
                "source": {"name": rng.choice(("a", "b", "A", "")), "image": "r.example.com/a:1"},
                "strength": rng.choice(("0.5", "2", "x", 1)),
            }
            for _ in range(rng.choice((1, 2, 11)))
        ]
    else:
        doc["resource"]["partition"] = rng.choice(
            ({"mode": "accelerator", "count": rng.choice(ODD_NUMBERS)}, {"mode": "mig", "profile": "1g.10gb"}, {"mode": "x"})
        )  # fmt: skip


FUZZERS: tuple[Fuzz, ...] = (
    _fuzz_replace_leaf,
    _fuzz_replace_leaf,
    _fuzz_drop_leaf,
    _fuzz_count,
    _fuzz_selector,
    _fuzz_volume,
    _fuzz_annotations,
    _fuzz_names,
    _fuzz_mode,
)


def _fuzz_cases(seed: int, count: int) -> list[Doc]:
    rng = random.Random(seed)
    bases = [doc for path in EXAMPLES for doc in localcluster.load_manifests(path)]
    cases = []
    for index in range(count):
        doc = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            # An earlier mutation may have removed or retyped what this one edits.
            with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
                rng.choice(FUZZERS)(doc, rng)
        if isinstance(doc.get("metadata"), dict):
            doc["metadata"]["name"] = f"fuzz-{index}"
        cases.append(doc)
    return cases


# A policy denial starts with the field it is about: "resource.count: ...",
# "metadata.annotations[kaito.sh/runtime]: ...".
FIELD_FIRST = re.compile(r"^[a-z][A-Za-z]*(\.[A-Za-z]+|\[[^\]]+\])+: \S")
NOT_FIELD_SPECIFIC = ("failed expression", "resulted in error", "Internal error")


def _verdict(doc: Doc, status: int, body: Doc) -> tuple[str, str | None]:
    """("accepted" | "schema" | "policy" | "request", the problem if the answer is not acceptable)."""
    if status < 300:
        stored = {**body, "apiVersion": "kaito.sh/v1beta1"}
        try:
            ws = v1beta1.Workspace.model_validate(stored)
            mirror = admission_violations(ws)
        except Exception as error:  # any exception is the finding
            return "accepted", f"accepted but the controller cannot take it: {error!r:.300}"
        return "accepted", f"accepted, but the mirror says {mirror[0]}" if mirror else None
    message: str = body.get("message", "")
    if any(text in message for text in NOT_FIELD_SPECIFIC):
        return "error", f"{status}: {message[:300]}"
    denied = DENIED.search(message)
    if denied:
        reason = message[denied.end() :]
        ok = status == 422 and FIELD_FIRST.match(reason) and "\n" not in reason
        return "policy", None if ok else f"policy message names no field: {reason[:300]}"
    causes = (body.get("details") or {}).get("causes") or []
    if status == 422 and causes and all(c.get("field") for c in causes):
        return "schema", None
    if status == 400 and re.search(r"ObjectMeta|Go struct field [\w.]+", message):
        return "request", None  # metadata the API server cannot decode; it names the type
    return "other", f"{status} without a field: {message[:300]} causes={causes}"


async def test_fuzzed_workspaces_are_rejected_with_a_field_or_accepted(
    policy: str, kube_api: ApiClient
) -> None:
    cases = _fuzz_cases(FUZZ_SEED, FUZZ_COUNT)
    limit = asyncio.Semaphore(16)

    async def send(doc: Doc) -> tuple[int, Doc]:
        async with limit:
            api_version = doc.get("apiVersion")
            version = api_version if api_version in VERSIONS else "kaito.sh/v1beta1"
            try:
                body = await localcluster.request(
                    kube_api, "POST", _path(version, policy), body=doc, query=[("dryRun", "All")]
                )
            except ApiException as error:
                try:
                    return error.status, json.loads(error.body or "{}")
                except ValueError:
                    return error.status, {"message": str(error.body)}
            return 201, body

    answers = await asyncio.gather(*(send(doc) for doc in cases))
    counts: dict[str, int] = {}
    problems = []
    for index, (doc, (status, body)) in enumerate(zip(cases, answers, strict=True)):
        kind, problem = _verdict(doc, status, body)
        counts[kind] = counts.get(kind, 0) + 1
        if problem:
            problems.append(f"case {index}: {problem}\n  {json.dumps(doc)[:400]}")
    accepted = counts.get("accepted", 0)
    print(
        f"\nfuzz (seed {FUZZ_SEED}): tried {len(cases)}, rejected {len(cases) - accepted} "
        f"(schema {counts.get('schema', 0)}, policy {counts.get('policy', 0)}, "
        f"undecodable {counts.get('request', 0)}), accepted {accepted}"
    )
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:25])
    assert len(cases) >= 1000
    for kind in ("schema", "policy", "accepted"):
        assert counts.get(kind), f"the mutations should produce every outcome: {counts}"
