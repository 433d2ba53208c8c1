"""Conditions change lastTransitionTime only when their status changes."""

import datetime

from controller_kit import conditions

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(minutes=5)


def test_setting_the_same_status_keeps_the_transition_time() -> None:
    first = conditions.set_condition(
        None, type_="Ready", status="False", reason="Waiting", message="a", now=T0
    )
    second = conditions.set_condition(
        first, type_="Ready", status="False", reason="StillWaiting", message="b", now=T1
    )
    assert second[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert second[0]["reason"] == "StillWaiting"


def test_a_status_change_moves_the_transition_time_and_keeps_order() -> None:
    start = conditions.set_condition(None, type_="A", status="True", reason="A", message="", now=T0)
    start = conditions.set_condition(
        start, type_="B", status="False", reason="B", message="", now=T0
    )
    changed = conditions.set_condition(
        start, type_="A", status="False", reason="Lost", message="", now=T1, observed_generation=3
    )
    assert [c["type"] for c in changed] == ["A", "B"]
    assert changed[0]["lastTransitionTime"] == "2026-01-01T00:05:00Z"
    assert changed[0]["observedGeneration"] == 3
    assert conditions.is_true(start, "A")
    assert not conditions.is_true(changed, "A")
    assert conditions.find(changed, "C") is None
