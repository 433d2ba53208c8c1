"""ARM's error vocabulary, as the SDK parses it.

Every failure leaves the emulator as ``{"error": {"code", "message", "target"?, "details"?}}``
(ARM's OData v4 error shape) with the HTTP status ARM would use. The SDK turns that into its own
exception types: 401 → ``ClientAuthenticationError``, 404 → ``ResourceNotFoundError``, 409 →
``ResourceExistsError``, anything else → ``HttpResponseError``, each with ``.error.code`` set, so
tests (and the product) branch on codes rather than on message text.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ArmError", "ErrorDetail"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ErrorDetail:
    code: str
    message: str
    target: str | None = None
    details: tuple[ErrorDetail, ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            body["target"] = self.target
        if self.details:
            body["details"] = [d.to_json() for d in self.details]
        return body


class ArmError(Exception):
    """An ARM error response: raised anywhere in request handling, rendered by the server."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: tuple[ErrorDetail, ...] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.detail = ErrorDetail(code=code, message=message, target=target, details=details)
        self.headers: Mapping[str, str] = dict(headers or {})

    @property
    def code(self) -> str:
        return self.detail.code

    def body(self) -> dict[str, Any]:
        return {"error": self.detail.to_json()}


def invalid_parameter(message: str, *, target: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


def not_found_resource(kind: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{kind}/{name}' under resource group '{resource_group}' was not found.",
    )
