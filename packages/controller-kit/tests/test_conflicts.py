"""A write that lost a race (409 Conflict, 404 Not Found) is a quiet requeue, not an error."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import prometheus_client
import pytest
import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import Controller, RateLimiter, Request, Result

if TYPE_CHECKING:
    from collections.abc import MutableMapping


class RacesThenSucceeds:
    """Raises ``errors`` on the first passes, then succeeds."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    async def reconcile(self, request: Request) -> Result:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return Result()


def _api_error(status: int, reason: str, message: str) -> ApiException:
    error = ApiException(status=status, reason=reason)
    error.body = json.dumps({"kind": "Status", "message": message}).encode()
    return error


def _sample(name: str, **labels: str) -> float:
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


async def _reconcile_until_success(
    name: str, errors: list[Exception]
) -> list[MutableMapping[str, Any]]:
    reconciler = RacesThenSucceeds(errors)
    controller = Controller(
        name=name, reconciler=reconciler, rate_limiter=RateLimiter(base_delay_seconds=0.01)
    )
    controller.queue.add(Request("ns", "a"))
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(controller.run())
        try:
            async with asyncio.timeout(5):
                while (
                    _sample("controller_runtime_reconcile_total", controller=name, result="success")
                    < 1
                ):
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert reconciler.calls == 3
    assert controller.queue.rate_limiter.retries(Request("ns", "a")) == 0, "success forgets"
    return logs


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version",
        ),
        (404, "Not Found", 'workspaces.kaito.sh "a" not found'),
    ],
)
async def test_lost_write_races_are_requeued_quietly_and_not_counted_as_errors(
    status: int, reason: str, message: str
) -> None:
    name = f"test.race{status}"
    logs = await _reconcile_until_success(
        name, [_api_error(status, reason, message), _api_error(status, reason, message)]
    )
    assert _sample("controller_runtime_reconcile_errors_total", controller=name) == 0
    assert _sample("controller_runtime_reconcile_total", controller=name, result="error") == 0
    assert _sample("controller_runtime_reconcile_total", controller=name, result="requeue") == 2
    assert _sample("controller_runtime_reconcile_total", controller=name, result="success") == 1
    raced = [entry for entry in logs if str(entry.get("error", "")).startswith(f"HTTP {status}")]
    assert len(raced) == 2
    for entry in raced:
        assert entry["log_level"] == ("debug" if status == 409 else "info")
        assert "failed" not in str(entry["event"])
        assert not entry.get("exc_info")


async def test_other_api_errors_still_count_as_reconcile_errors() -> None:
    name = "test.race500"
    logs = await _reconcile_until_success(
        name, [_api_error(500, "Internal Server Error", "etcd timeout")] * 2
    )
    assert _sample("controller_runtime_reconcile_errors_total", controller=name) == 2
    assert _sample("controller_runtime_reconcile_total", controller=name, result="requeue") == 0
    failed = [entry for entry in logs if entry["event"] == "reconcile failed, retrying"]
    assert [entry["log_level"] for entry in failed] == ["warning", "warning"]
