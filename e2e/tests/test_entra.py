"""The Entra ID token endpoint: azure-identity's own DefaultAzureCredential, configured as an AKS
workload-identity pod is, gets an ARM token from the emulator and lists agent pools with it."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.containerservice.aio import ContainerServiceClient

from aks_emulator import AksEmulator, EmulatorConfig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

IDENTITY = EmulatorConfig().identity
SUBJECT = "system:serviceaccount:gpu-provisioner:gpu-provisioner"


def _jwt(**claims: object) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(dict(claims))}.c2lnbmF0dXJl"


@pytest.fixture
async def emulator() -> AsyncIterator[AksEmulator]:
    async with AksEmulator(EmulatorConfig(federated_subject=SUBJECT)) as running:
        yield running


def _workload_identity_env(
    monkeypatch: pytest.MonkeyPatch, emulator: AksEmulator, token_file: Path
) -> None:
    assert emulator.tls_files is not None
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", emulator.base_url)
    monkeypatch.setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000002")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME"):
        monkeypatch.delenv(name, raising=False)


async def _list_pools(emulator: AksEmulator) -> list[str]:
    # In process the CA is passed as an option: aiohttp builds its default SSL context at import,
    # before a test could set SSL_CERT_FILE (a separate process, as in the demo, uses that).
    assert emulator.tls_files is not None
    verify: dict[str, Any] = {"connection_verify": str(emulator.tls_files.ca_cert)}
    async with (
        DefaultAzureCredential(
            **verify,
            exclude_managed_identity_credential=True,
            exclude_cli_credential=True,
            exclude_developer_cli_credential=True,
            exclude_powershell_credential=True,
        ) as credential,
        ContainerServiceClient(
            credential, IDENTITY.subscription, base_url=emulator.base_url, **verify
        ) as c,
    ):
        pools = c.agent_pools.list(IDENTITY.resource_group, IDENTITY.cluster)
        return [p.name or "" async for p in pools]


async def test_a_serviceaccount_token_with_the_exchange_audience_gets_an_arm_token(
    emulator: AksEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(_jwt(aud=["api://AzureADTokenExchange"], sub=SUBJECT))
    _workload_identity_env(monkeypatch, emulator, token_file)

    assert await _list_pools(emulator) == ["nodepool1"]
    assert emulator.counts()["operations"]["entra.token"] == {"200": 1}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": ["https://kubernetes.default.svc"], "sub": SUBJECT}, "AADSTS700212"),
        ({"aud": ["api://AzureADTokenExchange"], "sub": "system:serviceaccount:x:y"}, "700213"),
    ],
    ids=["wrong-audience", "wrong-subject"],
)
async def test_a_token_without_a_matching_federated_credential_is_refused(
    emulator: AksEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    claims: dict[str, object],
    reason: str,
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(_jwt(**claims))
    _workload_identity_env(monkeypatch, emulator, token_file)

    with pytest.raises(ClientAuthenticationError, match=reason):
        await _list_pools(emulator)
    assert emulator.counts()["operations"]["entra.token"] == {"401": 1}
