"""The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok.

Why it is shaped like this: tests need a *real* API server (admission, CEL, status subresources,
garbage collection, scheduling), but there are no kubelets, so kwok plays every node whose
annotation is ``kwok.x-k8s.io/node=fake``. Every component binds to 127.0.0.1 on a port picked at
start, so parallel clusters (a demo cluster and a test session) never collide and nothing is
reachable from outside the machine. Components start in dependency order and each is probed over
HTTP(S) before the next one needs it; the three controllers start together because none of them
waits for another. The whole state (PKI, etcd data, logs, kubeconfig, ``state.json``) lives in one
directory, which is all ``down`` needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from localcluster._binaries import Binaries
from localcluster._pki import write_pki
from localcluster._processes import (
    ProcessRecord,
    StartupError,
    http_ok,
    insecure_context,
    is_ours,
    spawn,
    stop,
    wait_healthy,
)

if TYPE_CHECKING:
    import subprocess
    from types import TracebackType

SERVICE_CIDR = "10.96.0.0/16"
"""ClusterIP range of Services; its first address (the ``kubernetes`` Service) is in the cert."""
POD_CIDR = "10.244.0.0/16"
"""Range kwok hands fake pod IPs out of."""
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
"""Nodes annotated ``kwok.x-k8s.io/node=fake`` are driven by kwok (as with Karpenter's kwok)."""
STATE_FILE = "state.json"
KUBECONFIG_FILE = "kubeconfig"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterInfo:
    """How to reach a running cluster as the admin user (``system:masters``)."""

    server: str
    """``https://127.0.0.1:<port>``."""
    token: str
    """Static bearer token of the admin user."""
    ca_cert: Path
    """CA that signed the apiserver serving certificate."""
    kubeconfig: Path
    """Admin kubeconfig (server, CA data and token inline)."""
    state_dir: Path
    kubernetes_version: str
    startup_seconds: float
    """Wall time from the first spawn to every component healthy."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago (kernel-assigned)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def kubeconfig_document(*, server: str, ca_pem: bytes, token: str) -> dict[str, Any]:
    """An admin kubeconfig with everything inline, so it can be copied anywhere."""
    import base64  # noqa: PLC0415 - only needed here

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "localcluster",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
                },
            }
        ],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [
            {"name": "localcluster", "context": {"cluster": "localcluster", "user": "admin"}}
        ],
        "current-context": "localcluster",
    }


class LocalCluster:
    """One control plane rooted at ``state_dir``.

    ``attached=True`` (tests): the processes die with this interpreter and :meth:`stop` reaps
    them. ``attached=False`` (``python -m localcluster up``): they keep running after we exit and
    are stopped with :func:`stop_from_state`. :meth:`stop_component` and :meth:`start_component`
    take one component down and bring it back in place (an outage of kube-apiserver or etcd).
    """

    def __init__(
        self,
        *,
        state_dir: Path,
        binaries: Binaries | None = None,
        attached: bool = True,
        startup_timeout_seconds: float = 120.0,
    ) -> None:
        self.state_dir = state_dir
        self.binaries = binaries or Binaries.locate()
        self.attached = attached
        self.startup_timeout_seconds = startup_timeout_seconds
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._records: list[ProcessRecord] = []
        self._info: ClusterInfo | None = None
        self._argv: dict[str, tuple[list[str], Path]] = {}
        self._probes: dict[str, tuple[str, ssl.SSLContext | None, str | None]] = {}

    @property
    def info(self) -> ClusterInfo:
        """Connection details; only valid after :meth:`start` returned."""
        if self._info is None:
            raise RuntimeError("cluster not started")
        return self._info

    @property
    def records(self) -> list[ProcessRecord]:
        """The processes started so far, in start order."""
        return list(self._records)

    def __enter__(self) -> ClusterInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ClusterInfo:
        """Start every component and return once all of them report healthy.

        On any failure the components already started are stopped before the error propagates.
        """
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component this object started (by PID) and reap them."""
        stop(self._records, children=self._children)
        self._children.clear()

    # -- one component, in place (outage tests) -------------------------------------------------

    @property
    def components(self) -> list[str]:
        """Component names, in start order (``etcd``, ``kube-apiserver``, ...)."""
        return [r.name for r in self._records]

    def stop_component(self, name: str, *, kill: bool = True) -> None:
        """Stop one component, keeping its ports and data for :meth:`start_component`.

        ``kill``: SIGKILL, as a crash or an OOM kill would (no graceful shutdown); otherwise
        SIGTERM, then SIGKILL after 10 s.
        """
        _, record = self._component(name)
        child = self._children.pop(record.pid, None)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
            if child is not None:
                child.wait(timeout=10)
        else:
            stop([record], children={record.pid: child} if child is not None else None)

    def start_component(self, name: str) -> None:
        """Start a component stopped by :meth:`stop_component` again, with the same arguments
        (so the same ports and data directory), and return once it reports healthy."""
        index, old = self._component(name)
        if is_ours(old):
            raise RuntimeError(f"{name} is still running (pid {old.pid})")
        argv, logs = self._argv[name]
        process, record = spawn(name, argv, log_path=logs / f"{name}.log", attached=self.attached)
        self._children[process.pid] = process
        self._records[index] = record
        self._write_state()
        url, context, token = self._probes[name]
        wait_healthy(
            name=name,
            url=url,
            process=process,
            record=record,
            deadline=time.monotonic() + self.startup_timeout_seconds,
            context=context,
            token=token,
        )

    def _component(self, name: str) -> tuple[int, ProcessRecord]:
        for index, record in enumerate(self._records):
            if record.name == name:
                return index, record
        raise KeyError(f"no component {name!r}; started: {', '.join(self.components)}")

    def _start(self) -> ClusterInfo:
        began = time.monotonic()
        deadline = began + self.startup_timeout_seconds
        d = self.state_dir
        d.mkdir(parents=True, exist_ok=True)
        for stale in ("etcd", "pki", "logs"):
            shutil.rmtree(d / stale, ignore_errors=True)
        logs = d / "logs"
        etcd_port, peer_port, api_port, kcm_port, sched_port, kwok_port = free_ports(6)
        pki = write_pki(
            d / "pki",
            service_ips=["10.96.0.1"],
            now=datetime.datetime.now(tz=datetime.UTC),
        )
        token = secrets.token_hex(24)
        tokens_csv = d / "pki" / "tokens.csv"
        tokens_csv.write_text(f'{token},admin,admin-uid,"system:masters"\n', encoding="utf-8")
        tokens_csv.chmod(0o600)
        server = f"https://127.0.0.1:{api_port}"
        kubeconfig = d / KUBECONFIG_FILE
        kubeconfig.write_text(
            yaml.safe_dump(
                kubeconfig_document(server=server, ca_pem=pki.ca_cert.read_bytes(), token=token)
            ),
            encoding="utf-8",
        )
        kubeconfig.chmod(0o600)
        api_context = ssl.create_default_context(cafile=str(pki.ca_cert))
        b = self.binaries

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = self._spawn(
            "etcd",
            [
                str(b.etcd),
                "--name=localcluster",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=localcluster={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            logs,
        )
        self._probes["etcd"] = (f"{etcd_url}/health", None, None)
        wait_healthy(
            name="etcd",
            url=f"{etcd_url}/health",
            process=etcd,
            record=self._records[-1],
            deadline=deadline,
        )

        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(b.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                "--authorization-mode=RBAC",
                f"--token-auth-file={tokens_csv}",
                f"--service-account-issuer={server}",
                f"--service-account-key-file={pki.service_account_pub}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--profiling=false",
            ],
            logs,
        )
        self._probes["kube-apiserver"] = (f"{server}/readyz", api_context, token)
        wait_healthy(
            name="kube-apiserver",
            url=f"{server}/readyz",
            process=apiserver,
            record=self._records[-1],
            deadline=deadline,
            context=api_context,
            token=token,
        )

        kcm = self._spawn(
            "kube-controller-manager",
            [
                str(b.kube_controller_manager),
                f"--kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--cert-dir={d / 'pki' / 'kube-controller-manager'}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--cluster-signing-cert-file={pki.ca_cert}",
                f"--cluster-signing-key-file={pki.ca_key}",
                "--profiling=false",
            ],
            logs,
        )
        scheduler = self._spawn(
            "kube-scheduler",
            [
                str(b.kube_scheduler),
                f"--kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                f"--cert-dir={d / 'pki' / 'kube-scheduler'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
            logs,
        )
        kwok = self._spawn(
            "kwok",
            [
                str(b.kwok),
                f"--kubeconfig={kubeconfig}",
                f"--config={b.kwok_stages}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",
                f"--cidr={POD_CIDR}",
                "--node-ip=10.244.0.1",
                "--node-port=0",
                f"--server-address=127.0.0.1:{kwok_port}",
            ],
            logs,
        )
        probe = insecure_context()
        for name, process, url, ctx in (
            ("kube-controller-manager", kcm, f"https://127.0.0.1:{kcm_port}/healthz", probe),
            ("kube-scheduler", scheduler, f"https://127.0.0.1:{sched_port}/healthz", probe),
            ("kwok", kwok, f"http://127.0.0.1:{kwok_port}/healthz", None),
        ):
            record = next(r for r in self._records if r.pid == process.pid)
            self._probes[name] = (url, ctx, None)
            wait_healthy(
                name=name,
                url=url,
                process=process,
                record=record,
                deadline=deadline,
                context=ctx,
            )

        self._info = ClusterInfo(
            server=server,
            token=token,
            ca_cert=pki.ca_cert,
            kubeconfig=kubeconfig,
            state_dir=d,
            kubernetes_version=b.kubernetes_version,
            startup_seconds=round(time.monotonic() - began, 2),
        )
        self._write_state()
        return self._info

    def _spawn(self, name: str, argv: list[str], logs: Path) -> subprocess.Popen[bytes]:
        process, record = spawn(name, argv, log_path=logs / f"{name}.log", attached=self.attached)
        self._argv[name] = (argv, logs)
        self._children[process.pid] = process
        self._records.append(record)
        self._write_state()  # so `down` can stop a half-started cluster
        return process

    def _write_state(self) -> None:
        state: dict[str, Any] = {"processes": [dataclasses.asdict(r) for r in self._records]}
        if self._info is not None:
            info = dataclasses.asdict(self._info)
            state["cluster"] = {k: str(v) if isinstance(v, Path) else v for k, v in info.items()}
        path = self.state_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        tmp.replace(path)


# -- detached clusters (python -m localcluster up/down) ------------------------------------------


def read_state(state_dir: Path) -> tuple[list[ProcessRecord], ClusterInfo | None]:
    """Processes and (if start completed) connection details recorded in ``state.json``."""
    path = state_dir / STATE_FILE
    if not path.is_file():
        return [], None
    state = json.loads(path.read_text(encoding="utf-8"))
    records = [ProcessRecord(**p) for p in state.get("processes", [])]
    raw = state.get("cluster")
    info = None
    if raw is not None:
        info = ClusterInfo(
            server=raw["server"],
            token=raw["token"],
            ca_cert=Path(raw["ca_cert"]),
            kubeconfig=Path(raw["kubeconfig"]),
            state_dir=Path(raw["state_dir"]),
            kubernetes_version=raw["kubernetes_version"],
            startup_seconds=raw["startup_seconds"],
        )
    return records, info


def running_info(state_dir: Path) -> ClusterInfo | None:
    """The recorded cluster if all its processes are alive and the apiserver is ready."""
    records, info = read_state(state_dir)
    if info is None or not records or not all(is_ours(r) for r in records):
        return None
    context = ssl.create_default_context(cafile=str(info.ca_cert))
    if http_ok(f"{info.server}/readyz", context=context, token=info.token) is None:
        return None
    return info


def stop_from_state(state_dir: Path) -> int:
    """Stop every recorded process that is still ours; return how many were running."""
    records, _ = read_state(state_dir)
    running = sum(1 for r in records if is_ours(r))
    stop(records)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return running


def up(state_dir: Path, *, binaries: Binaries | None = None) -> tuple[ClusterInfo, bool]:
    """Start a detached cluster in ``state_dir`` unless a healthy one runs there already.

    Returns the connection details and whether a new cluster was started.
    """
    existing = running_info(state_dir)
    if existing is not None:
        return existing, False
    stop_from_state(state_dir)  # leftovers of a crashed or half-stopped cluster
    cluster = LocalCluster(state_dir=state_dir, binaries=binaries, attached=False)
    return cluster.start(), True


__all__ = [
    "ClusterInfo",
    "LocalCluster",
    "StartupError",
    "free_ports",
    "read_state",
    "running_info",
    "stop_from_state",
    "up",
]
