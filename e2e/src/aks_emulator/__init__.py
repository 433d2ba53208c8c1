"""A local Azure Resource Manager for one AKS cluster: agent pools, the compute calls around them,
Node join into a real (local) cluster, and fault injection.

Why: the gpu-provisioner must be tested with the real Azure SDK for Python, end to end, without a
cloud. The emulator answers exactly the ARM endpoints it uses, in the wire shapes the async SDK
expects (long-running operations, paging, ARM error bodies), and turns a successful pool create
into Nodes shaped like AKS's, which kwok then marks Ready.

Public surface:

- :class:`AksEmulator`: the server (``async with AksEmulator(config, faults=..., nodes=...)``);
  ``emulator.connection()`` gives ``(base_url, credential, client_kwargs)`` for SDK clients.
- :class:`EmulatorConfig`, :class:`ClusterIdentity`, :class:`OperationTiming`: fixed settings.
- :class:`Faults` and its parts: what goes wrong, settable at start and at run time
  (``/_admin/faults``); :func:`load_faults` reads a YAML/JSON file.
- :class:`KubeNodeJoiner` / :class:`NodeJoiner`: where Nodes are written.
- :class:`StaticTokenCredential`, :func:`sdk_connection`: SDK plumbing for tests and tools.
- ``python -m aks_emulator --port P [--kubeconfig K] ...`` (see ``--help``).
"""

from aks_emulator._clock import Clock, SystemClock
from aks_emulator._config import ClusterIdentity, EmulatorConfig, OperationTiming
from aks_emulator._connecting import (
    PlainHttpBearerPolicy,
    SdkConnection,
    StaticTokenCredential,
    sdk_connection,
)
from aks_emulator._errors import ArmError, ErrorDetail
from aks_emulator._faults import (
    FailedOperation,
    Faults,
    FaultsError,
    ServerErrors,
    StuckOperation,
    Throttle,
    UnavailableSku,
    load_faults,
)
from aks_emulator._nodes import KubeNodeJoiner, NodeJoiner, node_manifest
from aks_emulator._server import AksEmulator
from aks_emulator._tls import TlsFiles, write_local_ca

__all__ = [
    "AksEmulator",
    "ArmError",
    "Clock",
    "ClusterIdentity",
    "EmulatorConfig",
    "ErrorDetail",
    "FailedOperation",
    "Faults",
    "FaultsError",
    "KubeNodeJoiner",
    "NodeJoiner",
    "OperationTiming",
    "PlainHttpBearerPolicy",
    "SdkConnection",
    "ServerErrors",
    "StaticTokenCredential",
    "StuckOperation",
    "SystemClock",
    "Throttle",
    "TlsFiles",
    "UnavailableSku",
    "load_faults",
    "node_manifest",
    "sdk_connection",
    "write_local_ca",
]
