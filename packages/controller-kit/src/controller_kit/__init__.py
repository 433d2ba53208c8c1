"""The asyncio controller runtime both controllers share (the role controller-runtime plays in Go).

- :class:`Request`, :class:`Result`, :class:`TerminalError`, :class:`Reconciler`: the reconcile
  contract (level-based; raise to retry with backoff).
- :class:`WorkQueue`, :class:`RateLimiter`: per-key deduplicating queue with backoff.
- :class:`Informer`, :class:`Resource`: list+watch caches of any kind as JSON dicts.
- :class:`Controller`: workers that drain a queue into a reconciler, with controller-runtime's
  metric names.
- :func:`run_until_signalled`, :func:`run_until_stopped`, :class:`LeaderElector`: the process
  around the controllers: SIGTERM/SIGINT stop it gracefully (in-flight reconciles drained, the
  Lease released); with leader election the work runs only while the Lease is held, and an
  API-server outage costs leadership, never the process.
- :class:`ProbeServer`, :class:`StandbyReadiness`, :func:`configure_logging`,
  :class:`EventRecorder`, condition helpers, :func:`load_settings` (environment → frozen settings
  dataclasses), and an injectable :class:`Clock`.

It knows no domain: it imports neither the catalog, the API models nor a controller.
"""

from controller_kit import _conditions as conditions
from controller_kit import _resources as resources
from controller_kit._clock import Clock, FakeClock, SystemClock
from controller_kit._controlling import Controller, request_for
from controller_kit._events import NORMAL, WARNING, EventRecorder
from controller_kit._informing import Informer, matches_labels, object_key
from controller_kit._leasing import (
    LeaderElector,
    StandbyReadiness,
    process_identity,
    run_as_leader,
)
from controller_kit._logs import configure_logging
from controller_kit._process import ProcessSettings, load_kube_config, run_main, run_process
from controller_kit._queueing import QueueShutDownError, RateLimiter, WorkQueue
from controller_kit._reconciling import DONE, Reconciler, Request, Result, TerminalError
from controller_kit._resources import Object, Resource, error_message
from controller_kit._running import (
    SHUTDOWN_GRACE_SECONDS,
    api_client,
    run_until_signalled,
    run_until_stopped,
)
from controller_kit._serving import ProbeServer
from controller_kit._settings import (
    SettingHelp,
    describe_settings,
    load_settings,
    settings_from_command_line,
)

__all__ = [
    "DONE",
    "NORMAL",
    "SHUTDOWN_GRACE_SECONDS",
    "WARNING",
    "Clock",
    "Controller",
    "EventRecorder",
    "FakeClock",
    "Informer",
    "LeaderElector",
    "Object",
    "ProbeServer",
    "ProcessSettings",
    "QueueShutDownError",
    "RateLimiter",
    "Reconciler",
    "Request",
    "Resource",
    "Result",
    "SettingHelp",
    "StandbyReadiness",
    "SystemClock",
    "TerminalError",
    "WorkQueue",
    "api_client",
    "conditions",
    "configure_logging",
    "describe_settings",
    "error_message",
    "load_kube_config",
    "load_settings",
    "matches_labels",
    "object_key",
    "process_identity",
    "request_for",
    "resources",
    "run_as_leader",
    "run_main",
    "run_process",
    "run_until_signalled",
    "run_until_stopped",
    "settings_from_command_line",
]
