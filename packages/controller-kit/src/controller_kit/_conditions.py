"""Status conditions (metav1.Condition) as plain dicts: set one, read one, compare sets.

``lastTransitionTime`` changes only when the status changes, as the API conventions require;
reason and message may change freely.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

Condition = dict[str, Any]


def rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    for condition in conditions or ():
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.get("status") == "True"


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    *,
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: datetime.datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """A copy of ``conditions`` with ``type_`` set; other conditions keep their order."""
    fields: dict[str, Any] = {
        "type_": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "now": now,
        "observed_generation": observed_generation,
    }
    result: list[Condition] = []
    replaced = False
    for condition in conditions or ():
        if condition.get("type") != type_:
            result.append(dict(condition))
            continue
        replaced = True
        result.append(_build(condition, **fields))
    if not replaced:
        result.append(_build(None, **fields))
    return result


def _build(
    previous: Mapping[str, Any] | None,
    *,
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: datetime.datetime,
    observed_generation: int | None,
) -> Condition:
    unchanged = previous is not None and previous.get("status") == status
    transition = previous["lastTransitionTime"] if unchanged and previous else rfc3339(now)
    condition: Condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    return condition
