"""The whole product on a local control plane, wired the way a user wires it.

Start order:

1. ``helm upgrade --install`` of both charts with ``replicaCount=0``: CRDs, RBAC, ServiceAccounts,
   ConfigMaps and the admission policy, exactly as the charts ship them;
2. the AKS emulator (ARM for one cluster, an Entra token endpoint, agent-pool Nodes joined into
   the cluster as kwok nodes);
3. each controller as local processes (``python -m <package>``, ``replicas`` of each), with exactly
   the environment the chart's Deployment gives its container, authenticated as the chart's
   ServiceAccount (a TokenRequest token in a kubeconfig) so the chart's RBAC is exactly what they
   get. The gpu-provisioner gets ARM tokens the way an AKS workload-identity pod does: the
   environment the workload-identity webhook would inject, read from the ServiceAccount's
   annotations, and a ServiceAccount token for ``api://AzureADTokenExchange`` exchanged at the
   emulator's Entra endpoint;
4. optionally Prometheus (Debian's package), scraping every replica's ``/metrics``.

Everything runs on 127.0.0.1. ``attached`` processes die with this interpreter (tests); detached
ones (the demo) are recorded in ``<work_dir>/stack.json`` and stopped by :func:`stop_from_state`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aks_emulator import ClusterIdentity
from kaito_stack._tools import Tools
from localcluster import (
    ProcessRecord,
    StartupError,
    find_repo_root,
    free_ports,
    kubeconfig_document,
    processes,
)

if TYPE_CHECKING:
    import subprocess

    from localcluster import Binaries, ClusterInfo

__all__ = [
    "GPU_PROVISIONER",
    "WORKSPACE_CONTROLLER",
    "Component",
    "Replica",
    "Stack",
    "StackOptions",
    "stop_from_state",
]

STATE_FILE = "stack.json"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
# Annotations the Azure workload-identity webhook reads from a pod's ServiceAccount.
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
TOKEN_LIFETIME = "48h"
STARTUP_TIMEOUT_SECONDS = 90.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Component:
    """One controller: its chart (also the release name), namespace and Python entry point."""

    chart: str
    namespace: str
    module: str
    env_prefix: str

    def env(self, group: str, field: str) -> str:
        return f"{self.env_prefix}_{group}_{field}".upper()


WORKSPACE_CONTROLLER = Component(
    chart="workspace-controller",
    namespace="kaito-workspace",
    module="workspace_controller",
    env_prefix="WORKSPACE_CONTROLLER",
)
GPU_PROVISIONER = Component(
    chart="gpu-provisioner",
    namespace="gpu-provisioner",
    module="gpu_provisioner",
    env_prefix="GPU_PROVISIONER",
)
COMPONENTS = (GPU_PROVISIONER, WORKSPACE_CONTROLLER)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StackOptions:
    replicas: int = 1
    """Processes per controller (leader election picks one)."""
    lease_duration_seconds: int = 15
    renew_deadline_seconds: int = 10
    retry_period_seconds: int = 2
    prometheus: bool = False
    emulator_create_seconds: float = 2.0
    """How long an agent-pool create takes in the emulator."""
    emulator_delete_seconds: float = 1.0
    log_json: bool = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class Replica:
    component: str
    index: int
    pid: int
    probe_port: int
    log: Path

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.probe_port}/metrics"


class Stack:
    """The emulator, both charts, the controllers and (optionally) Prometheus."""

    def __init__(
        self,
        cluster: ClusterInfo,
        binaries: Binaries,
        work_dir: Path,
        options: StackOptions | None = None,
        *,
        attached: bool = True,
    ) -> None:
        self.cluster = cluster
        self.options = options or StackOptions()
        self.work_dir = work_dir
        self.attached = attached
        self.tools = Tools(
            kubectl_bin=binaries.kubectl, helm_bin=binaries.helm, kubeconfig=cluster.kubeconfig
        )
        self.repo_root = find_repo_root()
        self.replicas: dict[str, list[Replica]] = {c.chart: [] for c in COMPONENTS}
        self.emulator_url = ""
        self.emulator_ca = work_dir / "emulator" / "ca.pem"
        self.prometheus_url = ""
        self._records: list[ProcessRecord] = []
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            (emulator_port,) = free_ports(1)
            self.emulator_url = f"https://127.0.0.1:{emulator_port}"
            for component in COMPONENTS:
                self._install_chart(component)
            self._start_emulator(emulator_port)
            for component in COMPONENTS:
                self._start_controller(component)
            for component in COMPONENTS:
                self.wait_for_leader(component)
            if self.options.prometheus:
                self._start_prometheus()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        processes.stop(self._records, children=self._children)
        self._records.clear()
        self._children.clear()
        (self.work_dir / STATE_FILE).unlink(missing_ok=True)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- charts ----------------------------------------------------------------------------------

    def chart_values(self, component: Component) -> dict[str, Any]:
        """The values the stack installs a chart with: no in-cluster replicas, the lease timing of
        the options, and for the provisioner the emulated cluster's identity and ARM endpoint."""
        opts = self.options
        controller = {
            "leaseDurationSeconds": opts.lease_duration_seconds,
            "renewDeadlineSeconds": opts.renew_deadline_seconds,
            "retryPeriodSeconds": opts.retry_period_seconds,
            "logJson": opts.log_json,
        }
        values: dict[str, Any] = {"replicaCount": 0, "controller": controller}
        if component is GPU_PROVISIONER:
            identity = ClusterIdentity()
            values["azure"] = {
                "subscriptionId": identity.subscription,
                "resourceGroup": identity.resource_group,
                "clusterName": identity.cluster,
                "location": identity.location,
                "armBaseUrl": self.emulator_url,
                "pollingIntervalSeconds": 1,
            }
            values["workloadIdentity"] = {
                "clientId": "11111111-1111-1111-1111-111111111111",
                "tenantId": "22222222-2222-2222-2222-222222222222",
            }
            values["provisioning"] = {"pollIntervalSeconds": 1}
        return values

    def _install_chart(self, component: Component) -> None:
        values_file = self.work_dir / f"{component.chart}-values.yaml"
        values_file.write_text(yaml.safe_dump(self.chart_values(component)))
        self.tools.helm(
            "upgrade",
            "--install",
            component.chart,
            str(self.repo_root / "charts" / component.chart),
            "--namespace",
            component.namespace,
            "--create-namespace",
            "--values",
            str(values_file),
            "--wait",
            "--timeout",
            "120s",
        )

    def deployment(self, component: Component) -> dict[str, Any]:
        """The chart's Deployment for ``component``, as installed."""
        for obj in self.tools.helm_manifest(component.chart, component.namespace):
            if obj.get("kind") == "Deployment":
                return obj
        raise StartupError(f"chart {component.chart} rendered no Deployment")

    # -- processes -------------------------------------------------------------------------------

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        process, record = processes.spawn(
            name,
            argv,
            log_path=self.work_dir / "logs" / f"{name}.log",
            attached=self.attached,
            env=env,
        )
        self._records.append(record)
        self._children[process.pid] = process
        self._save_state()
        return process

    def _save_state(self) -> None:
        state = {
            "records": [dataclasses.asdict(r) for r in self._records],
            "replicas": {
                name: [dataclasses.asdict(r) | {"log": str(r.log)} for r in replicas]
                for name, replicas in self.replicas.items()
            },
            "emulator_url": self.emulator_url,
            "prometheus_url": self.prometheus_url,
        }
        (self.work_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def _start_emulator(self, port: int) -> None:
        provisioner = self.deployment(GPU_PROVISIONER)
        account = provisioner["spec"]["template"]["spec"]["serviceAccountName"]
        opts = self.options
        argv = [
            sys.executable,
            "-m",
            "aks_emulator",
            "--port",
            str(port),
            "--kubeconfig",
            str(self.cluster.kubeconfig),
            "--tls-dir",
            str(self.emulator_ca.parent),
            "--federated-subject",
            f"system:serviceaccount:{GPU_PROVISIONER.namespace}:{account}",
            "--create-seconds",
            str(opts.emulator_create_seconds),
            "--delete-seconds",
            str(opts.emulator_delete_seconds),
            "--verbose",
        ]
        process = self._spawn("aks-emulator", argv, env=_base_env())
        _wait_http(
            f"{self.emulator_url}/_admin/healthz",
            process=process,
            ca=self.emulator_ca,
            log=self.work_dir / "logs" / "aks-emulator.log",
        )

    def controller_env(self, component: Component, *, probe_port: int) -> dict[str, str]:
        """The chart Deployment's container environment, plus what a pod gets from its node:
        the API server (a kubeconfig for the ServiceAccount) and, for the provisioner, what the
        workload-identity webhook injects."""
        deployment = self.deployment(component)
        pod = deployment["spec"]["template"]["spec"]
        (container,) = [c for c in pod["containers"] if c["name"] == component.chart] or [
            pod["containers"][0]
        ]
        env = _base_env()
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = str(var["value"])
            elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == (
                "metadata.namespace"
            ):
                env[var["name"]] = component.namespace
        account = pod["serviceAccountName"]
        auth_dir = self.work_dir / "auth" / component.chart
        auth_dir.mkdir(parents=True, exist_ok=True)
        token = self.tools.kubectl(
            "create", "token", account, "-n", component.namespace, "--duration", TOKEN_LIFETIME
        ).strip()
        kubeconfig = auth_dir / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                kubeconfig_document(
                    server=self.cluster.server,
                    ca_pem=self.cluster.ca_cert.read_bytes(),
                    token=token,
                )
            )
        )
        env["KUBECONFIG"] = str(kubeconfig)
        env[component.env("controller", "probe_bind_host")] = "127.0.0.1"
        env[component.env("controller", "probe_port")] = str(probe_port)
        if component is GPU_PROVISIONER:
            sa = self.tools.kubectl_json(
                "get", "serviceaccount", account, "-n", component.namespace
            )
            annotations = sa["metadata"].get("annotations", {})
            federated = auth_dir / "azure-identity-token"
            federated.write_text(
                self.tools.kubectl(
                    "create",
                    "token",
                    account,
                    "-n",
                    component.namespace,
                    "--audience",
                    FEDERATED_AUDIENCE,
                    "--duration",
                    TOKEN_LIFETIME,
                ).strip()
            )
            env.update(
                {
                    "AZURE_CLIENT_ID": annotations.get(CLIENT_ID_ANNOTATION, ""),
                    "AZURE_TENANT_ID": annotations.get(TENANT_ID_ANNOTATION, ""),
                    "AZURE_FEDERATED_TOKEN_FILE": str(federated),
                    "AZURE_AUTHORITY_HOST": self.emulator_url,
                    "SSL_CERT_FILE": str(self.emulator_ca),
                }
            )
        return env

    def _start_controller(self, component: Component) -> None:
        for index in range(self.options.replicas):
            self.start_replica(component, index)

    def start_replica(self, component: Component, index: int) -> Replica:
        (port,) = free_ports(1)
        env = self.controller_env(component, probe_port=port)
        name = f"{component.chart}-{index}"
        process = self._spawn(name, [sys.executable, "-m", component.module], env=env)
        replica = Replica(
            component=component.chart,
            index=index,
            pid=process.pid,
            probe_port=port,
            log=self.work_dir / "logs" / f"{name}.log",
        )
        self.replicas[component.chart].append(replica)
        self._save_state()
        _wait_http(f"http://127.0.0.1:{port}/healthz", process=process, log=replica.log)
        return replica

    def live_replicas(self, component: Component) -> list[Replica]:
        return [r for r in self.replicas[component.chart] if self._children[r.pid].poll() is None]

    def leader(self, component: Component) -> Replica | None:
        """The replica holding the component's Lease, if one of ours does."""
        lease_name = self.controller_env_value(component, "controller", "lease_name")
        lease = self.tools.kubectl(
            "get",
            "lease",
            lease_name,
            "-n",
            component.namespace,
            "-o",
            "jsonpath={.spec.holderIdentity}",
            check=False,
        ).strip()
        if not lease:
            return None
        pid = lease.rsplit("_", 1)[-1]
        for replica in self.live_replicas(component):
            if str(replica.pid) == pid:
                return replica
        return None

    def controller_env_value(self, component: Component, group: str, field: str) -> str:
        pod = self.deployment(component)["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for var in container.get("env", []):
                if var["name"] == component.env(group, field) and "value" in var:
                    return str(var["value"])
        raise KeyError(component.env(group, field))

    def wait_for_leader(
        self,
        component: Component,
        *,
        timeout: float = STARTUP_TIMEOUT_SECONDS,
        other_than: int | None = None,
    ) -> Replica:
        """Wait until one of our live replicas (not ``other_than``) holds the Lease."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader(component)
            if leader is not None and leader.pid != other_than:
                return leader
            if not [r for r in self.live_replicas(component) if r.pid != other_than]:
                break
            time.sleep(0.5)
        logs = "\n".join(
            processes.log_tail(r.log, lines=15) for r in self.replicas[component.chart]
        )
        raise StartupError(f"no {component.chart} replica holds the Lease:\n{logs}")

    def kill(self, replica: Replica) -> None:
        """SIGKILL, as a node failure or OOM kill would: no lease release, no cleanup."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(replica.pid, signal.SIGKILL)
        child = self._children.get(replica.pid)
        if child is not None:
            child.wait(timeout=10)

    def terminate(self, replica: Replica) -> None:
        """SIGTERM, as the kubelet sends on a rollout; :meth:`wait_exit` collects the result."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(replica.pid, signal.SIGTERM)

    def wait_exit(self, replica: Replica, *, timeout: float = 30.0) -> int:
        """The replica's exit code once it has exited (``subprocess.TimeoutExpired`` if not)."""
        return self._children[replica.pid].wait(timeout=timeout)

    # -- the model runtime ------------------------------------------------------------------------

    def serve_workload(self, deployment: str, namespace: str) -> str:
        """Run the model runtime as the inference Deployment's pod would, on this machine.

        kwok pods run nothing, so the server runs here: ``python -m model_runtime serve`` with
        the environment the workspace-controller wrote into the Deployment's container, except
        that ``MODEL_DIR`` holds a tiny random Phi-3 built locally (nothing may download weights
        here) and ``PORT``/``ADAPTERS_DIR`` are local. Returns the base URL once ``/health``
        answers 200 (the runtime answers 503 while the model loads)."""
        obj = self.tools.kubectl_json("get", "deployment", deployment, "-n", namespace)
        (container, *_) = obj["spec"]["template"]["spec"]["containers"]
        directory = self.work_dir / "runtime" / deployment
        model_dir, adapters = directory / "model", directory / "adapters"
        adapters.mkdir(parents=True, exist_ok=True)
        if not (model_dir / "config.json").is_file():
            self.tools.run_python(
                "from model_runtime.tiny import build_model; import sys; build_model(sys.argv[1])",
                str(model_dir),
            )
        (port,) = free_ports(1)
        env = _base_env()
        env.update({v["name"]: str(v["value"]) for v in container.get("env", []) if "value" in v})
        env.update({"MODEL_DIR": str(model_dir), "ADAPTERS_DIR": str(adapters), "PORT": str(port)})
        name = f"model-runtime-{deployment}"
        argv = [sys.executable if part == "python" else part for part in container["command"]]
        process = self._spawn(name, argv, env=env)
        url = f"http://127.0.0.1:{port}"
        _wait_http(
            f"{url}/health",
            process=process,
            log=self.work_dir / "logs" / f"{name}.log",
            timeout=300,
        )
        return url

    # -- Prometheus ------------------------------------------------------------------------------

    def prometheus_config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": component.chart,
                    "static_configs": [
                        {
                            "targets": [
                                f"127.0.0.1:{r.probe_port}" for r in self.replicas[component.chart]
                            ]
                        }
                    ],
                }
                for component in COMPONENTS
            ],
        }

    def _start_prometheus(self) -> None:
        binary = Path(os.environ.get("PROMETHEUS", "/usr/bin/prometheus"))
        if not binary.is_file():
            raise StartupError(
                f"Prometheus not found at {binary}: install Debian's package "
                "(apt-get install prometheus) or set PROMETHEUS"
            )
        directory = self.work_dir / "prometheus"
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.prometheus_config()))
        (port,) = free_ports(1)
        self.prometheus_url = f"http://127.0.0.1:{port}"
        process = self._spawn(
            "prometheus",
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            env=_base_env(),
        )
        _wait_http(
            f"{self.prometheus_url}/-/ready",
            process=process,
            log=self.work_dir / "logs" / "prometheus.log",
        )
        self._save_state()


def stop_from_state(work_dir: Path) -> int:
    """Stop what a detached stack in ``work_dir`` started; returns how many were running."""
    path = work_dir / STATE_FILE
    if not path.is_file():
        return 0
    records = [ProcessRecord(**r) for r in json.loads(path.read_text())["records"]]
    running = sum(1 for r in records if processes.is_ours(r))
    processes.stop(records)
    path.unlink()
    return running


def _base_env() -> dict[str, str]:
    """Only what any process needs from ours: no stray configuration leaks into a controller."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    return {k: os.environ[k] for k in keep if k in os.environ}


def _wait_http(
    url: str,
    *,
    process: subprocess.Popen[bytes],
    log: Path,
    ca: Path | None = None,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(
                f"process {process.pid} exited before {url} answered:\n{processes.log_tail(log)}"
            )
        if ca is not None and not ca.is_file():  # the server writes its CA as it starts
            time.sleep(0.2)
            continue
        context = ssl.create_default_context(cafile=str(ca)) if ca else None
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=2, context=context) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise StartupError(
        f"{url} did not answer 200 within {timeout:.0f}s:\n{processes.log_tail(log)}"
    )
