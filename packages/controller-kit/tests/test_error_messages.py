"""API errors keep the API server's own account of what went wrong: its message and causes."""

from __future__ import annotations

import json
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import error_message


def _api_error(status: int, reason: str, body: Any) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    # A real ApiException holds the response's data: bytes, or str once decoded.
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    exc.body = text.encode() if isinstance(text, str) else text
    return exc


def test_a_status_message_and_causes_follow_the_http_reason() -> None:
    exc = _api_error(
        400,
        "Bad Request",
        {
            "kind": "Status",
            "message": "the request is malformed",
            "reason": "BadRequest",
            "details": {
                "causes": [
                    {"reason": "FieldValueInvalid", "message": "must be a number", "field": "a.b"},
                    {"reason": "FieldValueRequired", "message": "is required"},
                ]
            },
            "code": 400,
        },
    )
    assert error_message(exc) == (
        "Bad Request (400): the request is malformed; a.b: must be a number; is required"
    )


def test_causes_already_in_the_message_are_not_repeated() -> None:
    field_error = 'metadata.labels: Invalid value: "a b": a valid label must be ...'
    exc = _api_error(
        422,
        "Unprocessable Entity",
        {
            "kind": "Status",
            "message": f'NodeClaim.karpenter.sh "ws1" is invalid: {field_error}',
            "details": {
                "causes": [
                    {
                        "field": "metadata.labels",
                        "message": 'Invalid value: "a b": a valid label must be ...',
                    },
                    {"field": "spec.taints", "message": "Required value"},
                ]
            },
        },
    )
    message = error_message(exc)
    assert message.count(field_error) == 1
    assert message.endswith("; spec.taints: Required value")
    assert message.startswith("Unprocessable Entity (422): NodeClaim.karpenter.sh")


def test_a_body_that_is_not_a_status_is_quoted() -> None:
    assert error_message(_api_error(502, "Bad Gateway", b"upstream\n  timed out")) == (
        "Bad Gateway (502): upstream timed out"
    )
    assert error_message(_api_error(503, "Service Unavailable", "")) == "Service Unavailable (503)"


def test_the_message_is_bounded() -> None:
    causes = [{"field": f"spec.f{i}", "message": "x" * 100} for i in range(100)]
    exc = _api_error(422, "Unprocessable Entity", {"message": "bad", "details": {"causes": causes}})
    message = error_message(exc, limit=300)
    assert len(message) == 300
    assert message.endswith("\u2026")
    assert len(error_message(exc)) <= 1024


def test_other_errors_are_their_text() -> None:
    assert error_message(ValueError("no such thing")) == "no such thing"
    assert error_message(TimeoutError()) == "TimeoutError"
