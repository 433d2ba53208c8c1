"""Following a Workspace's conditions as they change (the demo prints them; tests wait on them)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kaito_stack._tools import CommandError

if TYPE_CHECKING:
    from collections.abc import Callable

    from kaito_stack._tools import Tools

__all__ = ["ConditionTimeoutError", "conditions", "wait_for_condition"]


class ConditionTimeoutError(TimeoutError):
    """The condition did not reach the wanted status in time; the message shows the last ones."""


def conditions(obj: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``type → condition`` of an object's status."""
    if not obj:
        return {}
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", []) or []}


def wait_for_condition(
    tools: Tools,
    resource: str,
    name: str,
    *,
    namespace: str,
    condition: str,
    status: str = "True",
    timeout: float = 300.0,
    interval: float = 0.5,
    on_change: Callable[[float, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll until ``condition`` has ``status``; ``on_change(elapsed, condition)`` sees every
    condition whose status, reason or message changed on the way. Returns the object."""
    start = time.monotonic()
    seen: dict[str, tuple[str, str, str]] = {}
    last: dict[str, Any] | None = None
    while True:
        try:
            last = tools.kubectl_json("get", resource, name, "-n", namespace)
        except CommandError:
            last = None
        for kind, cond in sorted(conditions(last).items()):
            key = (cond.get("status", ""), cond.get("reason", ""), cond.get("message", ""))
            if seen.get(kind) != key:
                seen[kind] = key
                if on_change is not None:
                    on_change(time.monotonic() - start, cond)
        current = conditions(last).get(condition, {})
        if current.get("status") == status and last is not None:
            return last
        if time.monotonic() - start > timeout:
            shown = {k: v[:2] for k, v in seen.items()}
            raise ConditionTimeoutError(
                f"{resource}/{name}: {condition} is not {status} after {timeout:.0f}s; "
                f"conditions: {shown}"
            )
        time.sleep(interval)
