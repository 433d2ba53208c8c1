"""Settings from the environment; the metrics decorator on the seam; claim selection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import structlog
from prometheus_client import REGISTRY

from gpu_provisioner.cloudprovider import metrics
from gpu_provisioner.cloudprovider.types import (
    Claim,
    Instance,
    InstanceType,
    NodeClaimNotFoundError,
)
from gpu_provisioner.controllers.kinds import Selection
from gpu_provisioner.settings import Settings

if TYPE_CHECKING:
    import builtins


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "GPU_PROVISIONER_AZURE_SUBSCRIPTION_ID": "sub",
            "GPU_PROVISIONER_AZURE_CHECK_QUOTA": "false",
            "GPU_PROVISIONER_PROVISIONING_LAUNCH_TIMEOUT_SECONDS": "60",
            "GPU_PROVISIONER_PROVISIONING_MANAGED_LABELS": "a/b, c/d",
            "GPU_PROVISIONER_CONTROLLER_PROBE_PORT": "9000",
        }
    )
    assert settings.azure.subscription_id == "sub"
    assert settings.azure.check_quota is False
    assert settings.provisioning.launch_timeout_seconds == 60.0
    assert settings.provisioning.managed_labels == ("a/b", "c/d")
    assert settings.controller.probe_port == 9000
    assert Settings.from_env({}).provisioning.registration_timeout_seconds == 900.0


def test_bad_settings_name_the_variable() -> None:
    with pytest.raises(ValueError, match="GPU_PROVISIONER_CONTROLLER_LEADER_ELECT"):
        Settings.from_env({"GPU_PROVISIONER_CONTROLLER_LEADER_ELECT": "maybe"})


class _Failing:
    name = "unit"

    async def create(self, claim: Claim) -> Instance:
        return Instance(name=claim.name)

    async def delete(self, claim: Claim) -> None:
        raise NodeClaimNotFoundError(claim.name)

    async def get(self, provider_id: str) -> Instance:
        return Instance(name=provider_id)

    async def list(self) -> list[Instance]:
        return []

    async def instance_types(self) -> builtins.list[InstanceType]:
        return []

    async def is_drifted(self, claim: Claim) -> str:
        return ""


async def test_metrics_decorator_records_duration_and_typed_errors() -> None:
    provider = metrics.decorate(_Failing())
    labels = {"controller": "unit.test", "method": "Delete", "provider": "unit"}
    before = (
        REGISTRY.get_sample_value("karpenter_cloudprovider_duration_seconds_count", labels) or 0
    )
    with structlog.contextvars.bound_contextvars(controller="unit.test"):
        await provider.create(Claim(kind="NodeClaim", name="a", uid="u"))
        with pytest.raises(NodeClaimNotFoundError):
            await provider.delete(Claim(kind="NodeClaim", name="a", uid="u"))
    assert REGISTRY.get_sample_value("karpenter_cloudprovider_duration_seconds_count", labels) == (
        before + 1
    )
    assert (
        REGISTRY.get_sample_value(
            "karpenter_cloudprovider_errors_total", {**labels, "error": "NodeClaimNotFoundError"}
        )
        or 0
    ) >= 1
    assert provider.name == "unit"


def test_selection() -> None:
    selection = Selection()
    assert selection.manages(
        {"spec": {"nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass"}}}
    )
    assert selection.manages({"metadata": {"labels": {"kaito.sh/ragengine": "r"}}})
    assert not selection.manages(
        {"spec": {"nodeClassRef": {"group": "karpenter.azure.com", "kind": "AKSNodeClass"}}}
    )
