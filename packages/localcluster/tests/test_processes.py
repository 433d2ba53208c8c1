"""Stopping by PID: only processes that still run the recorded binary are signalled."""

from __future__ import annotations

import dataclasses
import shutil
from typing import TYPE_CHECKING

import pytest

from localcluster._cluster import free_ports, kubeconfig_document
from localcluster._processes import is_ours, log_tail, spawn, stop

if TYPE_CHECKING:
    from pathlib import Path

SLEEP = shutil.which("sleep") or "/bin/sleep"


def test_stop_terminates_and_reaps_a_spawned_process(tmp_path: Path) -> None:
    process, record = spawn("sleeper", [SLEEP, "300"], log_path=tmp_path / "s.log", attached=True)
    assert is_ours(record)

    stop([record], children={process.pid: process}, timeout_seconds=5)

    assert process.returncode is not None
    assert not is_ours(record)


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    process, record = spawn("sleeper", [SLEEP, "300"], log_path=tmp_path / "s.log", attached=True)
    try:
        impostor = dataclasses.replace(record, executable="/bin/true")
        assert not is_ours(impostor)
        stop([impostor], timeout_seconds=1)
        assert process.poll() is None, "a process running another binary was killed"
    finally:
        stop([record], children={process.pid: process}, timeout_seconds=5)


def test_log_tail_returns_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(log, lines=2) == "line 98\nline 99"
    assert log_tail(tmp_path / "absent.log").startswith("<no log")


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(6)
    assert len(set(ports)) == 6
    assert all(1024 < p < 65536 for p in ports)


@pytest.mark.parametrize("token", ["abc", "0123"])
def test_kubeconfig_has_inline_ca_and_token(token: str) -> None:
    doc = kubeconfig_document(server="https://127.0.0.1:1", ca_pem=b"PEM", token=token)
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"] == "UEVN"
    assert doc["users"][0]["user"]["token"] == token
    assert doc["current-context"] == "localcluster"
