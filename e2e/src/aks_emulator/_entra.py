"""What the emulator's Microsoft Entra ID token endpoint accepts: the workload-identity grant.

An AKS pod with workload identity (and a local process configured the same way) sends
``grant_type=client_credentials`` with ``client_assertion_type`` = JWT bearer and, as the
assertion, its projected Kubernetes ServiceAccount token, whose audience is
``api://AzureADTokenExchange``. Entra matches the token's issuer and subject against the app's
federated identity credential; here the audience and, when configured, the subject are checked.
Signatures are not verified: the emulator is a test double for ARM, not an identity provider.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ENTRA_TOKEN_OPERATION",
    "FEDERATED_AUDIENCE",
    "EntraError",
    "entra_assertion_error",
]

ENTRA_TOKEN_OPERATION = "entra.token"
"""The operation name under which token requests are counted (``/_admin/counts``)."""
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclasses.dataclass(frozen=True)
class EntraError:
    """An OAuth 2.0 error answer (RFC 6749 §5.2), with Entra's AADSTS-style description."""

    status: int
    code: str
    description: str

    def body(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}


def entra_assertion_error(
    form: Mapping[str, Any], *, tenant: str, subject: str | None
) -> EntraError | None:
    """Why this token request would be refused, or ``None`` when it is accepted."""
    if form.get("grant_type") != "client_credentials":
        return EntraError(400, "unsupported_grant_type", "Only client_credentials is supported.")
    if not form.get("client_id"):
        return EntraError(400, "invalid_request", "AADSTS900144: 'client_id' is required.")
    if not tenant:
        return EntraError(400, "invalid_request", "AADSTS90002: a tenant is required.")
    if form.get("client_assertion_type") != JWT_BEARER or not form.get("client_assertion"):
        return EntraError(
            401,
            "invalid_client",
            "AADSTS7000218: a client_assertion (federated token) is required.",
        )
    claims = _jwt_claims(str(form["client_assertion"]))
    if claims is None:
        return EntraError(401, "invalid_client", "AADSTS50027: the assertion is not a valid JWT.")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if FEDERATED_AUDIENCE not in audiences:
        return EntraError(
            401,
            "invalid_client",
            f"AADSTS700212: no matching federated identity record for audience {audience!r}"
            f" (expected {FEDERATED_AUDIENCE}).",
        )
    if subject is not None and claims.get("sub") != subject:
        return EntraError(
            401,
            "invalid_client",
            f"AADSTS700213: no matching federated identity record for subject"
            f" {claims.get('sub')!r}.",
        )
    return None


def _jwt_claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:  # header.payload.signature
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None
