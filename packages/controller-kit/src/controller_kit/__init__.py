"""The asyncio controller runtime both controllers share (the role controller-runtime plays in Go).

- :class:`Request`, :class:`Result`, :class:`TerminalError`, :class:`Reconciler`: the reconcile
  contract (level-based; raise to retry with backoff).
- :class:`WorkQueue`, :class:`RateLimiter`: per-key deduplicating queue with backoff.
- :class:`Informer`, :class:`Resource`: list+watch caches of any kind as JSON dicts.
- :class:`Controller`: workers that drain a queue into a reconciler, with controller-runtime's
  metric names.
- :func:`run_as_leader`, :class:`ProbeServer`, :func:`configure_logging`, :class:`EventRecorder`,
  condition helpers, :func:`load_settings` (environment → frozen settings dataclasses), and an
  injectable :class:`Clock`.

It knows no domain: it imports neither the catalog, the API models nor a controller.
"""

from controller_kit import _conditions as conditions
from controller_kit import _resources as resources
from controller_kit._clock import Clock, FakeClock, SystemClock
from controller_kit._controlling import Controller, request_for
from controller_kit._events import NORMAL, WARNING, EventRecorder
from controller_kit._informing import Informer, matches_labels, object_key
from controller_kit._leasing import LeadershipLostError, StandbyReadiness, run_as_leader
from controller_kit._logs import configure_logging
from controller_kit._queueing import QueueShutDownError, RateLimiter, WorkQueue
from controller_kit._reconciling import DONE, Reconciler, Request, Result, TerminalError
from controller_kit._resources import Object, Resource, error_message
from controller_kit._serving import ProbeServer
from controller_kit._settings import load_settings

__all__ = [
    "DONE",
    "NORMAL",
    "WARNING",
    "Clock",
    "Controller",
    "EventRecorder",
    "FakeClock",
    "Informer",
    "LeadershipLostError",
    "Object",
    "ProbeServer",
    "QueueShutDownError",
    "RateLimiter",
    "Reconciler",
    "Request",
    "Resource",
    "Result",
    "StandbyReadiness",
    "SystemClock",
    "TerminalError",
    "WorkQueue",
    "conditions",
    "configure_logging",
    "error_message",
    "load_settings",
    "matches_labels",
    "object_key",
    "request_for",
    "resources",
    "run_as_leader",
]
