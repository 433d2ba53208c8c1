"""A Workspace naming a ConfigMap that does not exist requests no GPU node: it is blocked (not
failed) with a Warning Event, and creating the ConfigMap resumes it without editing the Workspace
(issue #16). On the real control plane, with the fake Karpenter provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml

import localcluster
import preset_catalog
from kaito_apis.workspace import v1beta1
from workspace_controller.manifests import inference, tuning

from .test_workspace_safety import (
    SEED,
    WS_V1BETA1,
    _claims,
    _cleanup,
    _condition,
    _until,
    _warnings,
    _workspace,
)

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from .conftest import StartController


def _tuning_workspace(namespace: str, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    doc["metadata"] = {"name": name, "namespace": namespace}
    doc["tuning"]["output"] = {"volumeSource": {"emptyDir": {}}}  # no registry in the test cluster
    doc["tuning"]["config"] = f"{name}-params"
    return doc


def _inference_workspace(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": WS_V1BETA1,
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {"preset": {"name": "phi-3.5-mini-instruct"}, "config": f"{name}-config"},
    }


def _user_configmap(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    """Written by the user: no kaito.sh/workspace label, found only through the reference."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def _tuning_data(doc: dict[str, Any]) -> dict[str, str]:
    meta = {**doc["metadata"], "uid": "00000000-0000-0000-0000-000000000000"}
    ws = v1beta1.Workspace.model_validate({**doc, "apiVersion": WS_V1BETA1, "metadata": meta})
    config = preset_catalog.default_tuning_config(
        preset_catalog.TuningMethod.QLORA,
        preset=preset_catalog.resolve_preset(doc["tuning"]["preset"]["name"]).preset,
        instance_type=preset_catalog.get_instance_type(doc["resource"]["instanceType"]),
    )
    return dict(tuning.tuning_configmap(ws, name="unused", config=config)["data"])


@pytest.mark.parametrize("mode", ["tuning", "inference"])
async def test_a_missing_configmap_blocks_before_any_node_and_its_creation_resumes(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController, mode: str
) -> None:
    name = f"ws-missing-{mode}"
    if mode == "tuning":
        doc = _tuning_workspace(kube_namespace, name)
        condition, reason, config = "JobStarted", "TuningConfigNotFound", f"{name}-params"
        data = _tuning_data(doc)
    else:
        doc = _inference_workspace(kube_namespace, name)
        condition, reason, config = "InferenceReady", "InferenceConfigNotFound", f"{name}-config"
        data = {inference.INFERENCE_CONFIG_KEY: "vllm:\n  max-model-len: 4096\n"}
    async with _cleanup(kube_api, kube_namespace, name), start_controller():
        await localcluster.apply_manifests(kube_api, [doc])

        async def blocked() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, name)
            return ws if _condition(ws, condition).get("reason") == reason else None

        ws = await _until(blocked, f"{condition} {reason}")
        assert ws["status"]["state"] == "Pending", "fixable by the user: not Failed"
        assert config in _condition(ws, condition)["message"]

        async def warned() -> list[dict[str, Any]] | None:
            found = [e for e in await _warnings(kube_api, kube_namespace, name)
                     if e["reason"] == reason]  # fmt: skip
            return found or None

        (event,) = await _until(warned, f"a {reason} Warning Event on the Workspace")
        assert config in event["message"]
        assert await _claims(kube_api, kube_namespace, name) == [], "no GPU node requested"

        generation = ws["metadata"]["generation"]
        await localcluster.apply_manifests(
            kube_api, [_user_configmap(kube_namespace, config, data)]
        )

        async def resumed() -> list[dict[str, Any]] | None:
            return await _claims(kube_api, kube_namespace, name) or None

        await _until(resumed, "a claim once the ConfigMap exists")

        async def unblocked() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, name)
            return ws if _condition(ws, condition).get("reason") != reason else None

        ws = await _until(unblocked, f"{condition} no longer {reason}")
        assert ws["metadata"]["generation"] == generation, "the Workspace was not edited"
        assert ws["status"]["state"] != "Failed"


async def test_an_invalid_tuning_configmap_blocks_before_any_node_and_fixing_it_resumes(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController
) -> None:
    name = "ws-invalid-tuning"
    doc = _tuning_workspace(kube_namespace, name)
    config = f"{name}-params"
    invalid = {preset_catalog.TUNING_CONFIG_KEY: "training_config: {Bogus: {}}\n"}
    async with _cleanup(kube_api, kube_namespace, name), start_controller():
        await localcluster.apply_manifests(
            kube_api, [_user_configmap(kube_namespace, config, invalid), doc]
        )

        async def blocked() -> dict[str, Any] | None:
            ws = await _workspace(kube_api, kube_namespace, name)
            return (
                ws if _condition(ws, "JobStarted").get("reason") == "InvalidTuningConfig" else None
            )

        ws = await _until(blocked, "JobStarted InvalidTuningConfig")
        assert ws["status"]["state"] == "Pending", "fixable by the user: not Failed"
        assert "Bogus" in _condition(ws, "JobStarted")["message"]
        assert await _claims(kube_api, kube_namespace, name) == [], "no GPU node requested"

        await localcluster.apply_manifests(
            kube_api, [_user_configmap(kube_namespace, config, _tuning_data(doc))]
        )

        async def resumed() -> list[dict[str, Any]] | None:
            return await _claims(kube_api, kube_namespace, name) or None

        await _until(resumed, "a claim once the ConfigMap is fixed")
