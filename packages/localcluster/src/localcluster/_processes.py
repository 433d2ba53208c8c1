"""Starting, probing and stopping the component processes.

Why this is separate from the cluster logic: the same processes are either *attached* (owned by
a pytest session, killed with it through ``PR_SET_PDEATHSIG``) or *detached* (left running by
``python -m localcluster up`` and stopped later by ``down`` from the PIDs in ``state.json``). A PID
from a file may have been reused by an unrelated process, so stopping first checks that
``/proc/<pid>/exe`` is still the binary we started; nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import http.client
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

_PR_SET_PDEATHSIG = 1
_POLL_INTERVAL_SECONDS = 0.05


class StartupError(RuntimeError):
    """A component exited or did not become healthy in time; the message ends with its log tail."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcessRecord:
    """What ``down`` needs to find and stop a component started by an earlier ``up``."""

    name: str
    pid: int
    executable: str
    log: str


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    attached: bool,
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start ``argv`` in its own session with stdout+stderr appended to ``log_path``.

    Attached children get SIGTERM when the starting thread dies, so a killed test run cannot leak
    an apiserver. Detached children outlive us and are stopped by PID later.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
            preexec_fn=_die_with_parent if attached else None,  # noqa: PLW1509
        )
    record = ProcessRecord(name=name, pid=process.pid, executable=str(argv[0]), log=str(log_path))
    return process, record


def log_tail(path: str | Path, *, lines: int = 30) -> str:
    """The last ``lines`` lines of a component log (for error messages)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()[-16384:].decode("utf-8", "replace")
    except OSError as exc:
        return f"<no log: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def is_ours(record: ProcessRecord) -> bool:
    """True if ``record.pid`` is alive and still runs ``record.executable`` (not a reused PID)."""
    try:
        exe = os.readlink(f"/proc/{record.pid}/exe")
    except OSError:
        return False
    exe = exe.removesuffix(" (deleted)")
    try:
        with open(f"/proc/{record.pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z" and os.path.realpath(record.executable) == exe


def stop(
    records: Sequence[ProcessRecord],
    *,
    children: Mapping[int, subprocess.Popen[bytes]] | None = None,
    timeout_seconds: float = 10.0,
) -> None:
    """Stop the live records one at a time in reverse start order: SIGTERM, wait up to
    ``timeout_seconds``, then SIGKILL.

    One at a time because a dependent must go before what it depends on: an apiserver whose etcd
    vanished first spends many seconds retrying before it exits. ``children`` are Popen objects of
    processes this interpreter started; they are reaped so no zombies remain (detached processes
    are reaped by whoever adopted them).
    """
    children = children or {}
    for record in reversed(records):
        if not is_ours(record):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGTERM)
        child = children.get(record.pid)
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if child is not None:
                child.poll()
            if not is_ours(record):
                break
            time.sleep(_POLL_INTERVAL_SECONDS)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=timeout_seconds)


def http_ok(
    url: str, *, context: ssl.SSLContext | None = None, token: str | None = None
) -> str | None:
    """GET ``url`` once; return the body on HTTP 200, otherwise None."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            body: bytes = response.read()
            return body.decode("utf-8", "replace") if response.status == 200 else None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return None


def wait_healthy(
    *,
    name: str,
    url: str,
    process: subprocess.Popen[bytes],
    record: ProcessRecord,
    deadline: float,
    context: ssl.SSLContext | None = None,
    token: str | None = None,
) -> None:
    """Poll ``url`` until it answers 200; fail fast if the process exits, or at ``deadline``."""
    while True:
        if http_ok(url, context=context, token=token) is not None:
            return
        code = process.poll()
        if code is not None:
            raise StartupError(
                f"{name} exited with code {code} before {url} was healthy; log {record.log}:\n"
                + log_tail(record.log)
            )
        if time.monotonic() > deadline:
            raise StartupError(
                f"{name} not healthy at {url} before the deadline; log {record.log}:\n"
                + log_tail(record.log)
            )
        time.sleep(_POLL_INTERVAL_SECONDS)


def insecure_context() -> ssl.SSLContext:
    """TLS context for probing the loopback health endpoints of KCM and the scheduler, which
    serve a self-signed certificate they generate in memory at start."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
