"""Every CEL rule of the generated CRDs, proven on the real API server (cluster tier).

Each row builds a bad object from a valid one and names the message (and, where the rule sets a
``fieldPath``, the field) that the API server must answer with. The valid objects themselves must
be accepted, so a rule that rejects everything fails here too.
"""

from __future__ import annotations

import copy
import json
import pathlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

import localcluster

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

REPO = pathlib.Path(__file__).resolve().parents[3]
Doc = dict[str, Any]
Mutation = Callable[[Doc], None]


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
            "input": {"urls": ["https://example.com/data/train.parquet?download=true"]},
            "output": {"image": "registry.example.com/adapter:0.0.1", "imagePushSecret": "push"},
        },
    }


def _inference(api_version: str = "kaito.sh/v1beta1") -> Doc:
    doc = _tuning(api_version)
    del doc["tuning"]
    doc["inference"] = {"preset": {"name": "phi-3-mini-4k-instruct"}}
    return doc


def _adapter(name: str, **source: Any) -> Doc:
    return {"source": {"name": name, "image": f"registry.example.com/{name}:1", **source}}


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: Doc) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(doc: Doc) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        del node[leaf]

    return mutate


# (id, base, mutation, expected message, expected field path or None)
CREATE_CASES: list[tuple[str, Callable[[str], Doc], Mutation, str, str | None]] = [
    ("neither-mode", _tuning, _drop("tuning"), "either inference or tuning must be specified", "inference"),
    ("both-modes", _tuning, _set("inference", {"preset": {"name": "phi-4"}}), "inference and tuning cannot both be specified", "tuning"),
    ("inference-empty", _inference, _set("inference", {}), "either preset or template must be specified", "inference.preset"),
    ("preset-and-template", _inference, _set("inference.template", {"spec": {"containers": []}}), "preset and template cannot be set at the same time", "inference.template"),
    ("method-unknown", _tuning, _set("tuning.method", "sft"), "method must be lora or qlora", "tuning.method"),
    ("input-two-sources", _tuning, _set("tuning.input.image", "registry.example.com/data:1"), "input must set exactly one of urls, image or volumeSource", "tuning.input"),
    ("input-no-source", _tuning, _set("tuning.input", {"name": "data"}), "input must set exactly one of urls, image or volumeSource", "tuning.input"),
    ("output-none", _tuning, _set("tuning.output", {}), "output must set exactly one of image or volumeSource", "tuning.output"),
    ("output-both", _tuning, _set("tuning.output.volumeSource", {"emptyDir": {}}), "output must set exactly one of image or volumeSource", "tuning.output"),
    ("output-image-no-secret", _tuning, _drop("tuning.output.imagePushSecret"), "imagePushSecret is required when output.image is set", "tuning.output.imagePushSecret"),
    ("eleven-adapters", _inference, _set("inference.adapters", [_adapter(f"a{i}") for i in range(11)]), "at most 10 adapters are allowed", "inference.adapters"),
    ("duplicate-adapters", _inference, _set("inference.adapters", [_adapter("a"), _adapter("a")]), "adapter source names must be unique", "inference.adapters"),
    ("adapter-from-urls", _inference, _set("inference.adapters", [{"source": {"name": "a", "urls": ["https://example.com/a"]}}]), "adapters can only come from an image or a volume", None),
    ("adapter-without-name", _inference, _set("inference.adapters", [{"source": {"image": "r.example.com/a:1"}}]), "adapter source name is required", None),
    ("adapter-strength", _inference, _set("inference.adapters", [{**_adapter("a"), "strength": "1.5"}]), "strength must be a number between 0 and 1", None),
    ("no-label-selector", _tuning, _drop("resource.labelSelector"), "Required value", "resource.labelSelector"),
    ("empty-label-selector", _tuning, _set("resource.labelSelector", {}), "labelSelector must select at least one label", "resource.labelSelector"),
    ("selector-notin", _tuning, _set("resource.labelSelector", {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["b"]}]}), "may only use operator In", None),
    ("url-loopback", _tuning, _set("tuning.input.urls", ["http://127.0.0.1:8080/data.parquet"]), "must not point at localhost", "tuning.input.urls[0]"),
    ("url-localhost", _tuning, _set("tuning.input.urls", ["http://LocalHost/data.parquet"]), "must not point at localhost", None),
    ("url-metadata-ip", _tuning, _set("tuning.input.urls", ["http://169.254.169.254/metadata/instance"]), "must not point at localhost", None),
    ("url-metadata-name", _tuning, _set("tuning.input.urls", ["http://metadata.google.internal/x"]), "must not point at localhost", None),
    ("url-private", _tuning, _set("tuning.input.urls", ["https://10.1.2.3/data.parquet"]), "must not point at localhost", None),
    ("url-private-172", _tuning, _set("tuning.input.urls", ["https://user@172.20.0.1:443/d"]), "must not point at localhost", None),
    ("url-decimal-ip", _tuning, _set("tuning.input.urls", ["http://2130706433/data.parquet"]), "must not point at localhost", None),
    ("url-ipv6-loopback", _tuning, _set("tuning.input.urls", ["http://[::1]/data.parquet"]), "must not point at localhost", None),
    ("url-ipv6-unique-local", _tuning, _set("tuning.input.urls", ["http://[fd00::5]:8080/d"]), "must not point at localhost", None),
    ("url-ftp", _tuning, _set("tuning.input.urls", ["ftp://example.com/data.parquet"]), "must be an absolute http or https URL", "tuning.input.urls[0]"),
    ("url-relative", _tuning, _set("tuning.input.urls", ["data.parquet"]), "must be an absolute http or https URL", None),
    ("tuning-multinode", _tuning, _set("resource.count", 2), "tuning runs on a single node", "resource.count"),
    ("name-not-a-label", _tuning, _set("metadata.name", "ws.dotted"), "name must be a DNS-1123 label", None),
    # resource.count has a ceiling (issue #13: 1000, 2^31 and 2^63-1 were accepted).
    ("count-101", _inference, _set("resource.count", 101), "less than or equal to 100", "resource.count"),
    ("count-1000", _inference, _set("resource.count", 1000), "less than or equal to 100", "resource.count"),
    ("count-2-31", _inference, _set("resource.count", 2**31), "less than or equal to 100", "resource.count"),
    ("count-int64-max", _inference, _set("resource.count", 2**63 - 1), "less than or equal to 100", "resource.count"),
    ("count-zero", _inference, _set("resource.count", 0), "greater than or equal to 1", "resource.count"),
    # Volume sources: an allow-list; hostPath and every other node-level type named with its path.
    ("input-hostpath", _tuning, _set("tuning.input", {"volumeSource": {"hostPath": {"path": "/"}}}), "hostPath volumes are not allowed", "tuning.input.volumeSource.hostPath"),
    ("output-hostpath", _tuning, _set("tuning.output", {"volumeSource": {"hostPath": {"path": "/"}}}), "hostPath volumes are not allowed", "tuning.output.volumeSource.hostPath"),
    ("adapter-hostpath", _inference, _set("inference.adapters", [{"source": {"name": "a", "volumeSource": {"hostPath": {"path": "/var/lib"}}}}]), "hostPath volumes are not allowed", "inference.adapters[0].source.volumeSource.hostPath"),
    ("input-nfs", _tuning, _set("tuning.input", {"volumeSource": {"nfs": {"server": "10.0.0.1", "path": "/"}}}), "nfs volumes are not allowed", "tuning.input.volumeSource.nfs"),
    ("output-git-repo", _tuning, _set("tuning.output", {"volumeSource": {"gitRepo": {"repository": "https://example.com/r"}}}), "gitRepo volumes are not allowed", "tuning.output.volumeSource.gitRepo"),
    ("hostpath-beside-allowed", _tuning, _set("tuning.output", {"volumeSource": {"emptyDir": {}, "hostPath": {"path": "/"}}}), "hostPath volumes are not allowed", "tuning.output.volumeSource.hostPath"),
    ("two-volume-types", _tuning, _set("tuning.output", {"volumeSource": {"emptyDir": {}, "persistentVolumeClaim": {"claimName": "c"}}}), "must set exactly one volume type", "tuning.output.volumeSource"),
    ("unknown-volume-type", _tuning, _set("tuning.input", {"volumeSource": {"madeUp": {"path": "/"}}}), "must set exactly one volume type", "tuning.input.volumeSource"),
    ("empty-volume-source", _tuning, _set("tuning.output", {"volumeSource": {}}), "must set exactly one volume type", "tuning.output.volumeSource"),
    ("volume-type-not-object", _tuning, _set("tuning.output", {"volumeSource": {"hostPath": "/"}}), "must be of type object", "tuning.output.volumeSource.hostPath"),
    # Label selectors: Kubernetes' label syntax and a size limit (issue #13: each was accepted).
    ("selector-value-space", _tuning, _set("resource.labelSelector.matchLabels", {"app": "a b"}), "must be a label value", None),
    ("selector-value-unicode", _tuning, _set("resource.labelSelector.matchLabels", {"app": "caf\u00e9"}), "must be a label value", None),
    ("selector-value-64", _tuning, _set("resource.labelSelector.matchLabels", {"app": "a" * 64}), "Too long", None),
    ("selector-value-dashes", _tuning, _set("resource.labelSelector.matchLabels", {"app": "-bad-"}), "must be a label value", None),
    ("selector-key-empty", _tuning, _set("resource.labelSelector.matchLabels", {"": "a"}), "keys must be a label key", "resource.labelSelector.matchLabels"),
    ("selector-key-two-slashes", _tuning, _set("resource.labelSelector.matchLabels", {"a/b/c": "a"}), "keys must be a label key", "resource.labelSelector.matchLabels"),
    ("selector-key-space", _tuning, _set("resource.labelSelector.matchLabels", {"a b": "a"}), "keys must be a label key", "resource.labelSelector.matchLabels"),
    ("selector-key-name-64", _tuning, _set("resource.labelSelector.matchLabels", {"example.com/" + "k" * 64: "a"}), "keys must be a label key", "resource.labelSelector.matchLabels"),
    ("selector-key-prefix-254", _tuning, _set("resource.labelSelector.matchLabels", {("a" * 60 + ".") * 4 + "a" * 10 + "/k": "a"}), "keys must be a label key", "resource.labelSelector.matchLabels"),
    ("selector-key-upper-prefix", _tuning, _set("resource.labelSelector.matchLabels", {"Example.com/k": "a"}), "keys must be a label key", "resource.labelSelector.matchLabels"),
    ("selector-3000-labels", _tuning, _set("resource.labelSelector.matchLabels", {f"k{i}": "v" for i in range(3000)}), "must have at most 32 items", "resource.labelSelector.matchLabels"),
    ("selector-expression-key", _tuning, _set("resource.labelSelector", {"matchExpressions": [{"key": "-bad-", "operator": "In", "values": ["a"]}]}), "must be a label key", "resource.labelSelector.matchExpressions[0].key"),
    ("selector-expression-value", _tuning, _set("resource.labelSelector", {"matchExpressions": [{"key": "a", "operator": "In", "values": ["a b"]}]}), "must be a label value", "resource.labelSelector.matchExpressions[0].values[0]"),
    ("selector-expression-operator", _tuning, _set("resource.labelSelector", {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}), "Unsupported value", "resource.labelSelector.matchExpressions[0].operator"),
    ("selector-exists-with-values", _tuning, _set("resource.labelSelector", {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}), "values must be non-empty for In and NotIn and empty for Exists", "resource.labelSelector.matchExpressions[0].values"),
    ("selector-in-without-values", _tuning, _set("resource.labelSelector", {"matchExpressions": [{"key": "a", "operator": "In"}]}), "values must be non-empty for In and NotIn", "resource.labelSelector.matchExpressions[0].values"),
]  # fmt: skip

V1BETA1_ONLY_CASES = [
    ("partition-mig-no-profile", _inference, _set("resource.partition", {"mode": "mig"}), "mode mig needs a profile and no count", None),
    ("partition-accelerator-profile", _inference, _set("resource.partition", {"mode": "accelerator", "count": 1, "profile": "1g.10gb"}), "mode accelerator needs a count and no profile", None),
    ("tuning-partition", _tuning, _set("resource.partition", {"mode": "accelerator", "count": 1}), "tuning cannot use a GPU partition", "resource.partition"),
    ("partition-gpus", _inference, _set("resource.partition", {"mode": "accelerator", "count": 2**31}), "less than or equal to 16", "resource.partition.count"),
]  # fmt: skip

VERSIONS = ["kaito.sh/v1alpha1", "kaito.sh/v1beta1"]


@pytest.fixture
async def crds(kube_api: ApiClient) -> None:
    await localcluster.apply_manifests(kube_api, sorted((REPO / "crds").glob("*.yaml")))


def _path(api_version: str, namespace: str, name: str | None = None) -> str:
    base = f"/apis/{api_version}/namespaces/{namespace}/workspaces"
    return f"{base}/{name}" if name else base


async def _create(api: ApiClient, namespace: str, doc: Doc) -> Doc:
    result: Doc = await localcluster.request(
        api, "POST", _path(doc["apiVersion"], namespace), body=doc
    )
    return result


async def _expect_rejected(call: Any, message: str, field: str | None) -> None:
    with pytest.raises(ApiException) as caught:
        await call
    assert caught.value.status == 422, caught.value.body
    status = json.loads(caught.value.body or "{}")
    causes = status.get("details", {}).get("causes", [])
    assert message in status["message"], status["message"]
    if field is not None:
        assert any(c.get("field") == field and message in c.get("message", "") for c in causes), (
            f"no cause on field {field!r}: {causes}"
        )


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize("api_version", VERSIONS)
@pytest.mark.parametrize(
    ("case", "base", "mutate", "message", "field"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES]
)
async def test_create_rule_rejects_its_bad_case(
    kube_api: ApiClient,
    kube_namespace: str,
    api_version: str,
    case: str,
    base: Callable[[str], Doc],
    mutate: Mutation,
    message: str,
    field: str | None,
) -> None:
    del case
    good = base(api_version)
    bad = copy.deepcopy(good)
    mutate(bad)
    await _expect_rejected(_create(kube_api, kube_namespace, bad), message, field)
    await _create(kube_api, kube_namespace, good)  # the rule does not reject the valid object


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("case", "base", "mutate", "message", "field"),
    V1BETA1_ONLY_CASES,
    ids=[c[0] for c in V1BETA1_ONLY_CASES],
)
async def test_v1beta1_rule_rejects_its_bad_case(
    kube_api: ApiClient,
    kube_namespace: str,
    case: str,
    base: Callable[[str], Doc],
    mutate: Mutation,
    message: str,
    field: str | None,
) -> None:
    del case
    bad = base("kaito.sh/v1beta1")
    mutate(bad)
    await _expect_rejected(_create(kube_api, kube_namespace, bad), message, field)


ACCEPTED_VARIANTS: list[tuple[str, Callable[[str], Doc], Mutation]] = [
    ("method-any-case", _tuning, _set("tuning.method", "QLoRA")),
    ("lora", _tuning, _set("tuning.method", "lora")),
    ("volume-output", _tuning, _set("tuning.output", {"volumeSource": {"emptyDir": {}}})),
    ("image-input", _tuning, _set("tuning.input", {"image": "registry.example.com/data:1"})),
    ("ten-adapters", _inference, _set("inference.adapters", [_adapter(f"a{i}", ) for i in range(10)])),
    ("adapter-strength", _inference, _set("inference.adapters", [{**_adapter("a"), "strength": "0.25"}])),
    ("template", _inference, _set("inference", {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}})),
    ("public-url-by-ip", _tuning, _set("tuning.input.urls", ["https://20.1.2.3/data.parquet"])),
    ("public-host-like-private", _tuning, _set("tuning.input.urls", ["https://10.example.com/d", "https://metadata-store.example.com/d", "https://172.32.0.1/d"])),
    ("selector-in", _tuning, _set("resource.labelSelector", {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]})),
    ("count-100", _inference, _set("resource.count", 100)),
    ("input-pvc", _tuning, _set("tuning.input", {"volumeSource": {"persistentVolumeClaim": {"claimName": "data", "readOnly": True}}})),
    ("input-configmap", _tuning, _set("tuning.input", {"volumeSource": {"configMap": {"name": "data"}}})),
    ("input-secret", _tuning, _set("tuning.input", {"volumeSource": {"secret": {"secretName": "data"}}})),
    ("input-csi", _tuning, _set("tuning.input", {"volumeSource": {"csi": {"driver": "blob.csi.azure.com", "volumeAttributes": {"containerName": "data"}}}})),
    ("input-azure-file", _tuning, _set("tuning.input", {"volumeSource": {"azureFile": {"secretName": "s", "shareName": "data"}}})),
    ("output-azure-disk", _tuning, _set("tuning.output", {"volumeSource": {"azureDisk": {"diskName": "d", "diskURI": "/subscriptions/x/disks/d"}}})),
    ("output-ephemeral", _tuning, _set("tuning.output", {"volumeSource": {"ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}})),
    ("adapter-pvc", _inference, _set("inference.adapters", [{"source": {"name": "a", "volumeSource": {"persistentVolumeClaim": {"claimName": "adapters"}}}}])),
    ("selector-label-syntax", _tuning, _set("resource.labelSelector.matchLabels", {"example.com/team-a_b.c": "Value-1_x.y", "k": "", "a" * 63: "v" * 63, ("a" * 60 + ".") * 4 + "a" * 9 + "/k": "z"})),
    ("selector-32-labels", _tuning, _set("resource.labelSelector.matchLabels", {f"k{i}": "v" for i in range(32)})),
    ("instance-type-lower-case", _inference, _set("resource.instanceType", "standard_nc6s_v3")),
]  # fmt: skip


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("case", "base", "mutate"), ACCEPTED_VARIANTS, ids=[c[0] for c in ACCEPTED_VARIANTS]
)
async def test_valid_variant_is_accepted(
    kube_api: ApiClient,
    kube_namespace: str,
    case: str,
    base: Callable[[str], Doc],
    mutate: Mutation,
) -> None:
    del case
    doc = base("kaito.sh/v1beta1")
    mutate(doc)
    stored = await _create(kube_api, kube_namespace, doc)
    assert stored["metadata"]["name"] == "ws"


# (id, base, merge patch, message, field)
UPDATE_CASES: list[tuple[str, Callable[[str], Doc], Doc, str, str | None]] = [
    ("tuning-to-inference", _tuning, {"tuning": None, "inference": {"preset": {"name": "phi-4"}}}, "cannot be added or removed after creation", "tuning"),
    ("tuning-preset", _tuning, {"tuning": {"preset": {"name": "phi-4"}}}, "tuning.preset is immutable", "tuning.preset"),
    ("tuning-method", _tuning, {"tuning": {"method": "lora"}}, "tuning.method is immutable", "tuning.method"),
    ("input-name", _tuning, {"tuning": {"input": {"name": "renamed"}}}, "input.name is immutable", "tuning.input.name"),
    ("label-selector", _tuning, {"resource": {"labelSelector": {"matchLabels": {"app": "other"}}}}, "resource.labelSelector is immutable", "resource.labelSelector"),
    ("instance-type", _tuning, {"resource": {"instanceType": "Standard_NC12s_v3"}}, "instanceType is immutable", "resource.instanceType"),
    ("inference-preset", _inference, {"inference": {"preset": {"name": "phi-4"}}}, "inference.preset is immutable", "inference.preset"),
    ("count", _inference, {"resource": {"count": 3}}, "resource.count is immutable", "resource.count"),
    ("preset-to-template", _inference, {"inference": {"preset": None, "template": {"spec": {}}}}, "cannot be added or removed after creation", None),
]  # fmt: skip


async def _merge_patch(api: ApiClient, namespace: str, doc: Doc, patch: Doc) -> Doc:
    result: Doc = await localcluster.request(
        api,
        "PATCH",
        _path(doc["apiVersion"], namespace, doc["metadata"]["name"]),
        body=patch,
        content_type="application/merge-patch+json",
    )
    return result


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("case", "base", "patch", "message", "field"), UPDATE_CASES, ids=[c[0] for c in UPDATE_CASES]
)
async def test_update_rule_rejects_its_change(
    kube_api: ApiClient,
    kube_namespace: str,
    case: str,
    base: Callable[[str], Doc],
    patch: Doc,
    message: str,
    field: str | None,
) -> None:
    del case
    doc = base("kaito.sh/v1beta1")
    await _create(kube_api, kube_namespace, doc)
    await _expect_rejected(_merge_patch(kube_api, kube_namespace, doc, patch), message, field)


@pytest.mark.usefixtures("crds")
async def test_updates_that_keep_the_rules_are_accepted(
    kube_api: ApiClient, kube_namespace: str
) -> None:
    doc = _tuning()
    await _create(kube_api, kube_namespace, doc)
    patched = await _merge_patch(
        kube_api, kube_namespace, doc, {"resource": {"instanceType": None}}
    )
    assert "instanceType" not in patched["resource"], "clearing instanceType is allowed"
    patched = await _merge_patch(
        kube_api,
        kube_namespace,
        doc,
        {"metadata": {"labels": {"team": "a"}}, "tuning": {"config": "my-config"}},
    )
    assert patched["tuning"]["config"] == "my-config"


@pytest.mark.usefixtures("crds")
async def test_seed_manifest_applies_unchanged(kube_api: ApiClient, kube_namespace: str) -> None:
    seed = REPO / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
    (stored,) = await localcluster.apply_manifests(kube_api, seed, namespace=kube_namespace)
    assert stored["apiVersion"] == "kaito.sh/v1alpha1"
    assert stored["resource"]["count"] == 1
    assert stored["tuning"]["preset"] == {
        "name": "phi-3-mini-128k-instruct",
        "accessMode": "public",
    }


def _nodeclaim(**spec: Any) -> Doc:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"generateName": "ws"},
        "spec": {
            "nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["Standard_NC6s_v3"]},
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["kaito"]},
            ],
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "resources": {"requests": {"storage": "120Gi"}},
            **spec,
        },
    }  # fmt: skip


NODECLAIM_CASES: list[tuple[str, Doc, str]] = [
    ("in-without-values", _nodeclaim(requirements=[{"key": "a", "operator": "In"}]), "must have a value defined"),
    ("gt-two-values", _nodeclaim(requirements=[{"key": "a", "operator": "Gt", "values": ["1", "2"]}]), "must have a single positive integer value"),
    ("kubernetes-io-domain", _nodeclaim(requirements=[{"key": "kubernetes.io/foo", "operator": "Exists"}]), 'label domain "kubernetes.io" is restricted'),
    ("karpenter-domain", _nodeclaim(requirements=[{"key": "karpenter.sh/other", "operator": "Exists"}]), 'label domain "karpenter.sh" is restricted'),
    ("hostname", _nodeclaim(requirements=[{"key": "kubernetes.io/hostname", "operator": "Exists"}]), 'label "kubernetes.io/hostname" is restricted'),
    ("empty-nodeclass-name", _nodeclaim(nodeClassRef={"group": "kaito.sh", "kind": "KaitoNodeClass", "name": ""}), "name may not be empty"),
]  # fmt: skip


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("case", "doc", "message"), NODECLAIM_CASES, ids=[c[0] for c in NODECLAIM_CASES]
)
async def test_nodeclaim_rule_rejects_its_bad_case(
    kube_api: ApiClient, case: str, doc: Doc, message: str
) -> None:
    del case
    await _expect_rejected(
        localcluster.request(kube_api, "POST", "/apis/karpenter.sh/v1/nodeclaims", body=doc),
        message,
        None,
    )


@pytest.mark.usefixtures("crds")
async def test_nodeclaim_spec_is_immutable_and_defaults_expiry(kube_api: ApiClient) -> None:
    created = await localcluster.request(
        kube_api, "POST", "/apis/karpenter.sh/v1/nodeclaims", body=_nodeclaim()
    )
    name = created["metadata"]["name"]
    try:
        assert created["spec"]["expireAfter"] == "720h"
        await _expect_rejected(
            localcluster.request(
                kube_api,
                "PATCH",
                f"/apis/karpenter.sh/v1/nodeclaims/{name}",
                body={"spec": {"taints": []}},
                content_type="application/merge-patch+json",
            ),
            "spec is immutable",
            None,
        )
    finally:
        await localcluster.delete_object(kube_api, "karpenter.sh/v1", "NodeClaim", name)
