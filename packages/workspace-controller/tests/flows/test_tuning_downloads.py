"""A tuning URL whose name spells a private address gets no Job (issue #13, DNS-based SSRF).

``127.0.0.1.nip.io`` passes the CRD's URL rule (it is a DNS name) and used to pass the
controller's check too, and the Job's downloader then fetched from loopback. The controller now
refuses names that spell a non-global address; every other name is resolved and checked by the
downloader itself (packages/model-runtime/tests/test_download.py).
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import localcluster

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from .conftest import StartController

REPO = pathlib.Path(__file__).resolve().parents[4]
SEED = REPO / "examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml"
WS_V1BETA1 = "kaito.sh/v1beta1"


def _job_started(ws: dict[str, Any] | None) -> dict[str, Any]:
    for condition in ((ws or {}).get("status") or {}).get("conditions") or []:
        if condition["type"] == "JobStarted":
            return dict(condition)
    return {}


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1.nip.io/train.parquet", "http://169-254-169-254.sslip.io/latest/meta-data"],
)
async def test_a_url_naming_a_private_address_gets_no_job(
    kube_api: ApiClient, kube_namespace: str, start_controller: StartController, url: str
) -> None:
    doc: dict[str, Any] = yaml.safe_load(SEED.read_text())
    doc["metadata"]["namespace"] = kube_namespace
    doc["tuning"]["input"] = {"urls": [url]}
    name = doc["metadata"]["name"]
    async with start_controller():
        await localcluster.apply_manifests(kube_api, [doc])  # the CRD accepts it

        async def refused() -> dict[str, Any] | None:
            ws = await localcluster.get_object(
                kube_api, WS_V1BETA1, "Workspace", name, namespace=kube_namespace
            )
            condition = _job_started(ws)
            return condition if condition.get("reason") == "InvalidTuningInput" else None

        condition = await localcluster.poll_until(
            refused, description="JobStarted=InvalidTuningInput", timeout_seconds=90
        )
    assert condition["status"] == "False"
    assert "wildcard DNS" in condition["message"]
    job = await localcluster.get_object(kube_api, "batch/v1", "Job", name, namespace=kube_namespace)
    assert job is None
