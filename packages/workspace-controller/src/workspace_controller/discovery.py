"""Which Karpenter claim API to use, decided once at start-up from API discovery."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import resources
from kaito_apis.karpenter import constants as karpenter
from workspace_controller.settings import NodeProvisioningApi

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from workspace_controller.kinds import ClaimApi

_log = structlog.get_logger("workspace.discovery")


async def served_versions(api: ApiClient, group: str) -> set[str]:
    """The versions of ``group`` the API server serves (empty when it serves none)."""
    try:
        found = await resources.call(api, "GET", f"/apis/{group}")
    except ApiException as exc:
        if exc.status == 404:
            return set()
        raise
    return {v["version"] for v in found.get("versions") or []}


def choose(setting: NodeProvisioningApi, served: set[str]) -> ClaimApi | None:
    """auto prefers NodeClaim (v1) over Machine (v1alpha5); None when neither is served, or
    when nodes are brought by the user."""
    if setting is NodeProvisioningApi.NONE:
        return None
    if setting is NodeProvisioningApi.MACHINE:
        return "machine"
    if setting is NodeProvisioningApi.NODECLAIM:
        return "nodeclaim"
    if "v1" in served:
        return "nodeclaim"
    if "v1alpha5" in served:
        return "machine"
    return None


async def claim_api(api: ApiClient, setting: NodeProvisioningApi) -> ClaimApi | None:
    if setting is NodeProvisioningApi.NONE:
        _log.info("node provisioning api", setting=str(setting), chosen=None)
        return None
    served = await served_versions(api, karpenter.GROUP)
    chosen = choose(setting, served)
    _log.info("node provisioning api", setting=str(setting), served=sorted(served), chosen=chosen)
    return chosen
