"""Workspace metrics (Kaito's names): how many Workspaces are in each phase, per preset."""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any

import prometheus_client

if TYPE_CHECKING:
    from controller_kit import Informer

PHASES = ("succeeded", "error", "pending", "deleting")

WORKSPACE_COUNT = prometheus_client.Gauge(
    "kaito_workspace_count", "Number of Workspaces by phase", ["phase"]
)
PRESET_COUNT = prometheus_client.Gauge(
    "kaito_workspace_preset_count", "Number of Workspaces by preset", ["preset_name"]
)
for _phase in PHASES:
    WORKSPACE_COUNT.labels(phase=_phase)


def phase_of(ws: dict[str, Any]) -> str:
    """succeeded / error / pending / deleting, from WorkspaceSucceeded and deletion."""
    if ws["metadata"].get("deletionTimestamp"):
        return "deleting"
    status = ws.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "WorkspaceSucceeded" and condition.get("status") == "True":
            return "succeeded"
    if status.get("state") == "Failed":
        return "error"
    return "pending"


def preset_of(ws: dict[str, Any]) -> str | None:
    for mode in ("tuning", "inference"):
        preset = (ws.get(mode) or {}).get("preset") or {}
        if preset.get("name"):
            return str(preset["name"])
    return None


def refresh(workspaces: Informer) -> None:
    phases = collections.Counter(phase_of(ws) for ws in workspaces)
    for phase in PHASES:
        WORKSPACE_COUNT.labels(phase=phase).set(phases.get(phase, 0))
    presets = collections.Counter(p for ws in workspaces if (p := preset_of(ws)))
    PRESET_COUNT.clear()
    for name, count in presets.items():
        PRESET_COUNT.labels(preset_name=name).set(count)


async def publish(workspaces: Informer, period_seconds: float = 30.0) -> None:
    """Refresh the gauges from the cache every ``period_seconds`` (Kaito refreshes every minute)."""
    await workspaces.synced.wait()
    while True:
        refresh(workspaces)
        await asyncio.sleep(period_seconds)
