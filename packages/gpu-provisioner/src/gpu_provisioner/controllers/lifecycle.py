"""``<kind>.lifecycle``: Karpenter's claim lifecycle for the claims this provisioner manages.

Each pass reads the claim and the Node from the caches, moves the claim one step, and writes the
status once (a PUT of the status subresource, optimistic on resourceVersion):

1. finalizer ``karpenter.sh/termination`` before anything is created;
2. launch: ``CloudProvider.create`` in a background task (:mod:`.launching`); then providerID,
   imageID, capacity and allocatable; typed errors become ``Launched=False`` with the provider's
   reason, a Warning Event, and for insufficient capacity the claim's deletion;
3. registration: the Node with the claim's providerID (failing that, the one carrying the
   instance's labels, e.g. AKS's agentpool label, for a Node that joined without a matching
   providerID) gets the claim's labels, annotations and taints, an owner reference and the
   finalizer; the unregistered taint goes; a registered Node that disappears (force-deleted)
   deletes its claim;
4. initialization: Node Ready, startup and ephemeral taints gone, requested resources present;
5. root ``Ready``; launch and registration timeouts delete the claim; once launched, the labels
   its single-valued requirements pin (instance type, zone, nodepool...) and its capacity type
   and zone (from the instance, or its Node) are added to the claim where missing, as
   Karpenter's launch does; each condition that becomes True (Launched, Registered, Initialized,
   Ready) is a Normal Event on the claim, the condition type its reason;
6. on deletion: cordon, evict the pods (Eviction API) within the termination grace period,
   delete the instance, wait for NotFound, drop the Node's and the claim's finalizers. The
   claim's Nodes are those its status names and those that point back at it (owner reference,
   claim label): registration writes the Node before the status write that records it, and that
   write may be lost (a conflict with the deletion itself).

A Node deleted directly (it carries the finalizer, so it waits) leads to its claim's deletion.
Counters of what a pass did (claims launched, Nodes registered) move only once the status write
recording it has succeeded, so a write lost to a conflict and redone is counted once.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import re
from typing import TYPE_CHECKING, Any

import structlog
from kubernetes_asyncio.client.exceptions import ApiException

from controller_kit import (
    DONE,
    NORMAL,
    WARNING,
    Request,
    Result,
    conditions,
    error_message,
    resources,
)
from gpu_provisioner import metrics
from gpu_provisioner.cloudprovider.claims import (
    claim_from_object,
    missing_requirement_labels,
    parse_quantity,
)
from gpu_provisioner.cloudprovider.types import (
    CreateError,
    Instance,
    InsufficientCapacityError,
    InvalidClaimError,
    NodeClaimNotFoundError,
    TransientError,
)
from gpu_provisioner.controllers.kinds import nodepool_of
from kaito_apis.karpenter import constants

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from kubernetes_asyncio.client import ApiClient

    from controller_kit import Clock, EventRecorder, Informer
    from gpu_provisioner.cloudprovider.types import CloudProvider
    from gpu_provisioner.controllers.kinds import ClaimKind, Selection
    from gpu_provisioner.controllers.launching import Launches

Object = dict[str, Any]
FINALIZER = constants.FINALIZER_TERMINATION
EPHEMERAL_TAINTS = (
    ("node.kubernetes.io/not-ready", None),
    ("node.kubernetes.io/unreachable", None),
    ("node.cloudprovider.kubernetes.io/uninitialized", None),
    (constants.TAINT_UNREGISTERED, None),
)
# Requests a Node never reports as allocatable (upstream skips storage too).
UNCHECKED_RESOURCES = frozenset({"storage", "ephemeral-storage"})
MESSAGE_LIMIT = 800
INVALID = (400, 422)
LAUNCHED_LABELS = (constants.LABEL_CAPACITY_TYPE, constants.LABEL_ZONE)
"""Labels a launched claim gets from its instance (on the launching pass) or its Node (later),
as Karpenter's launch copies the provider's: ``kubectl get nodeclaims`` shows them as CAPACITY
and ZONE."""
"""API answers to a write the server refuses as written (retrying unchanged will not help)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Timing:
    launch_timeout_seconds: float = 300.0
    registration_timeout_seconds: float = 900.0
    termination_grace_period_seconds: float = 900.0
    poll_interval_seconds: float = 5.0
    error_requeue_seconds: float = 30.0


class ClaimLifecycle:
    """The reconciler of one claim kind."""

    def __init__(
        self,
        *,
        api: ApiClient,
        kind: ClaimKind,
        claims: Informer,
        nodes: Informer,
        provider: CloudProvider,
        launches: Launches,
        selection: Selection,
        events: EventRecorder,
        clock: Clock,
        timing: Timing,
        instance_node_labels: Callable[[Object], Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        self._api = api
        self._kind = kind
        self._claims = claims
        self._nodes = nodes
        self._provider = provider
        self._launches = launches
        self._selection = selection
        self._events = events
        self._clock = clock
        self._timing = timing
        self._instance_node_labels = instance_node_labels or _no_labels
        self._log = structlog.get_logger(kind.controller_name)

    async def reconcile(self, request: Request) -> Result:
        try:
            return await self._reconcile(request)
        except ApiException as exc:
            if exc.status == 404:  # the claim (or its Node) went away under a stale cache
                return DONE
            raise

    async def _reconcile(self, request: Request) -> Result:
        obj = self._claims.get(request.name)
        if obj is None or not self._selection.manages(obj):
            return DONE
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return await self._terminate(obj)
        if FINALIZER not in (meta.get("finalizers") or []):
            await self._patch_claim(
                obj, {"finalizers": [*(meta.get("finalizers") or []), FINALIZER]}
            )
            return DONE
        status = copy.deepcopy(obj.get("status") or {})
        pass_ = _Pass(obj=obj, status=status, kind=self._kind, now=self._clock.now())
        pass_.initialize_conditions()
        written = obj
        try:
            result = await self._launch(pass_)
            if result is None:
                result = await self._register(pass_)
            if result is None:
                result = await self._initialize(pass_)
        finally:
            pass_.set_ready()
            if pass_.status != (obj.get("status") or {}):
                written = await self._write_status_or_report(obj, pass_.status)
                for count in pass_.after_write:
                    count()
        await self._record_transitions(written, obj, pass_.status)
        if pass_.delete_reason:
            await self._delete_claim(obj, pass_.delete_reason)
            return DONE
        if conditions.is_true(pass_.conditions, self._kind.launched):
            await self._label_claim(written, pass_.resolved_labels)
        return result or DONE

    async def _record_transitions(
        self, written: Object, before: Object, status: Mapping[str, Any]
    ) -> None:
        """A Normal Event on the claim for each condition this pass's (written) status made True,
        the condition's type its reason (Launched, Registered, Initialized, Ready). Failures are
        not repeated here: each has its own Warning Event with the provider's reason."""
        if written is before:
            return
        old = (before.get("status") or {}).get("conditions") or []
        for condition in status.get("conditions") or []:
            new_status = condition.get("status")
            previous = (conditions.find(old, condition["type"]) or {}).get("status")
            if new_status != "True" or previous == "True":
                continue
            message = f"{condition['type']} is now True (was {previous or 'unset'})"
            await self._events.record(
                written, type_=NORMAL, reason=condition["type"], message=message
            )

    # -- launch ------------------------------------------------------------------------------------

    async def _launch(self, p: _Pass) -> Result | None:
        kind = self._kind
        uid = p.obj["metadata"]["uid"]
        if conditions.is_true(p.conditions, kind.launched):
            self._launches.forget(uid)
            return None
        name = p.obj["metadata"]["name"]
        deadline = _age(p.obj, p.now) - self._timing.launch_timeout_seconds
        task = self._launches.take(uid)
        if task is None:
            if deadline >= 0:
                p.set(kind.launched, "False", "LaunchTimeout", "instance was not launched in time")
                p.delete_reason = "launch_timeout"
                return DONE
            if self._launches.running(uid):
                return Result(requeue_after=-deadline)
            wait = self._launches.wait_seconds(uid)
            if wait > 0:
                # Show the last failure again: the write that first reported it may have been
                # lost to a conflict after the failed attempt was consumed.
                last = self._launches.last_error(uid)
                if last is not None:
                    self._show_failure(p, last)
                return Result(requeue_after=min(wait, -deadline))
            self._launches.start(uid, name, self._provider.create(claim_from_object(p.obj)))
            current = conditions.find(p.conditions, kind.launched) or {}
            if current.get("status") != "False":
                p.set(kind.launched, "Unknown", "Launching", "creating the instance")
            return Result(requeue_after=-deadline)
        if task.cancelled():
            return Result(requeue_after=0.1)
        error = task.exception()
        if error is None:
            self._launched(p, task.result())
            return None
        return await self._launch_failed(p, error, uid, -deadline)

    def _launched(self, p: _Pass, instance: Instance) -> None:
        p.status["providerID"] = instance.provider_id
        if instance.image_id and self._kind.observed_generation:
            p.status["imageID"] = instance.image_id
        if instance.capacity:
            p.status["capacity"] = dict(instance.capacity)
        if instance.allocatable:
            p.status["allocatable"] = dict(instance.allocatable)
        p.set(self._kind.launched, "True", self._kind.launched, "")
        p.resolved_labels = {
            **instance.labels,
            constants.LABEL_CAPACITY_TYPE: instance.capacity_type,
        }
        counter = metrics.NODECLAIMS_CREATED.labels("provisioning", nodepool_of(p.obj), "false")
        p.after_write.append(counter.inc)
        self._log.info("launched claim", provider_id=instance.provider_id, instance=instance.name)

    async def _launch_failed(
        self, p: _Pass, error: BaseException, uid: str, until_timeout: float
    ) -> Result:
        kind = self._kind
        message = _message(error)
        if isinstance(error, InsufficientCapacityError):
            p.set(kind.launched, "False", "InsufficientCapacity", message)
            await self._events.record(
                p.obj, type_=WARNING, reason="InsufficientCapacityError", message=message
            )
            p.delete_reason = "insufficient_capacity"
            return DONE
        self._show_failure(p, error)
        if isinstance(error, CreateError):
            await self._events.record(p.obj, type_=WARNING, reason=error.reason, message=message)
            if isinstance(error, InvalidClaimError):  # the spec is immutable: wait for timeout
                self._launches.failed(uid, base_seconds=until_timeout, error=error)
                return Result(requeue_after=until_timeout)
            delay = self._launches.failed(
                uid, base_seconds=self._timing.error_requeue_seconds, error=error
            )
            return Result(requeue_after=min(delay, until_timeout))
        hint = error.retry_after_seconds if isinstance(error, TransientError) else None
        delay = self._launches.failed(
            uid,
            base_seconds=self._timing.error_requeue_seconds / 10,
            hint_seconds=hint,
            error=error,
        )
        self._log.warning("launch failed, retrying", error=message, retry_in_seconds=delay)
        return Result(requeue_after=min(delay, until_timeout))

    def _show_failure(self, p: _Pass, error: BaseException) -> None:
        """The Launched condition for a failed create (a CreateError's reason is the user's)."""
        if isinstance(error, CreateError):
            p.set(self._kind.launched, "False", error.reason, _message(error))
        else:
            p.set(self._kind.launched, "Unknown", "LaunchFailed", _message(error))

    # -- registration ------------------------------------------------------------------------------

    async def _register(self, p: _Pass) -> Result | None:
        kind = self._kind
        if conditions.is_true(p.conditions, kind.registered):
            node_name = p.status.get("nodeName") or ""
            node = self._nodes.get(node_name)
            if node is not None and node["metadata"].get("deletionTimestamp"):
                p.delete_reason = "node_deleted"
                return DONE
            if node is None and node_name and not await self._node_exists(node_name):
                self._log.info("registered node is gone", node=node_name)
                p.delete_reason = "node_deleted"
                return DONE
            return None
        launched = conditions.find(p.conditions, kind.launched) or {}
        since = _parse_time(launched.get("lastTransitionTime")) or p.now
        remaining = self._timing.registration_timeout_seconds - (p.now - since).total_seconds()
        nodes = self._nodes_for_claim(p.obj, p.status.get("providerID") or "")
        if not nodes:
            if remaining <= 0:
                p.set(kind.registered, "False", "RegistrationTimeout", "Node did not register")
                p.delete_reason = "registration_timeout"
                return DONE
            p.set(kind.registered, "Unknown", "NodeNotFound", "Node not registered with cluster")
            return Result(requeue_after=remaining)
        if len(nodes) > 1:
            names = ", ".join(n["metadata"]["name"] for n in nodes)
            p.set(kind.registered, "False", "MultipleNodesFound", f"several Nodes: {names}")
            return Result(requeue_after=self._timing.error_requeue_seconds)
        node = nodes[0]
        try:
            await self._sync_node(p.obj, node)
        except ApiException as exc:
            if exc.status not in INVALID:
                raise
            message = f"updating Node {node['metadata']['name']}: {error_message(exc)}"
            p.set(kind.registered, "False", "NodeUpdateFailed", message)
            await self._events.record(
                p.obj, type_=WARNING, reason="FailedRegistration", message=message
            )
            return Result(requeue_after=self._timing.error_requeue_seconds)
        p.status["nodeName"] = node["metadata"]["name"]
        if not p.status.get("providerID") and (node.get("spec") or {}).get("providerID"):
            p.status["providerID"] = node["spec"]["providerID"]
        p.set(kind.registered, "True", kind.registered, "")
        p.after_write.append(metrics.NODES_CREATED.labels(nodepool_of(p.obj)).inc)
        self._log.info("registered node", node=node["metadata"]["name"])
        return None

    def _nodes_for_claim(self, claim: Object, provider_id: str) -> list[Object]:
        """The claim's Node by providerID; failing that, by the instance's labels (a Node that
        joined without the providerID the launch saw), unless another claim owns it."""
        by_id = self._nodes_for(provider_id)
        if by_id:
            return by_id
        pairs = self._instance_node_labels(claim)
        if not pairs:
            return []
        uid = claim["metadata"]["uid"]
        return [
            n
            for n in self._nodes
            if _has_any_label(n, pairs)
            and not any(
                o.get("kind") == self._kind.kind and o.get("uid") != uid
                for o in n["metadata"].get("ownerReferences") or []
            )
        ]

    async def _node_exists(self, name: str) -> bool:
        """Asked of the API server: a Node missing from the cache may only be late there."""
        try:
            await resources.call(self._api, "GET", resources.NODES.path(name=name))
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _nodes_for(self, provider_id: str) -> list[Object]:
        if not provider_id:
            return []
        wanted = provider_id.lower()
        return [
            n
            for n in self._nodes
            if ((n.get("spec") or {}).get("providerID") or "").lower() == wanted
        ]

    async def _sync_node(self, claim: Object, node: Object) -> None:
        meta = node["metadata"]
        claim_meta = claim["metadata"]
        labels = dict(meta.get("labels") or {})
        for key, value in (claim_meta.get("labels") or {}).items():
            # A value the Node already has in another case (its instance type as AKS spells
            # it, a claim asking for "standard_nc6s_v3") keeps the Node's spelling.
            if key not in labels or labels[key].lower() != str(value).lower():
                labels[key] = value
        labels[constants.LABEL_REGISTERED] = "true"
        annotations = {**(meta.get("annotations") or {}), **(claim_meta.get("annotations") or {})}
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER not in finalizers:
            finalizers.append(FINALIZER)
        owners = [o for o in meta.get("ownerReferences") or [] if o.get("uid") != claim_meta["uid"]]
        owners.append(
            {
                "apiVersion": claim["apiVersion"],
                "kind": claim["kind"],
                "name": claim_meta["name"],
                "uid": claim_meta["uid"],
                "blockOwnerDeletion": True,
            }
        )
        taints = [
            t
            for t in (node.get("spec") or {}).get("taints") or []
            if t.get("key") != constants.TAINT_UNREGISTERED
        ]
        if labels.get(constants.LABEL_DO_NOT_SYNC_TAINTS) != "true":
            spec = claim.get("spec") or {}
            for taint in [*(spec.get("taints") or []), *(spec.get("startupTaints") or [])]:
                if not any(_same_taint(taint, t) for t in taints):
                    taints.append(dict(taint))
        body = {
            "metadata": {
                "labels": labels,
                "annotations": annotations,
                "finalizers": finalizers,
                "ownerReferences": owners,
                "resourceVersion": meta["resourceVersion"],
            },
            "spec": {"taints": taints},
        }
        await resources.patch(self._api, resources.NODES, meta["name"], body)

    # -- initialization ----------------------------------------------------------------------------

    async def _initialize(self, p: _Pass) -> Result | None:
        kind = self._kind
        if conditions.is_true(p.conditions, kind.initialized):
            return None
        node = self._nodes.get(p.status.get("nodeName") or "")
        if node is None:
            p.set(kind.initialized, "Unknown", "NodeNotFound", "Node not found")
            return DONE
        node_status = node.get("status") or {}
        taints = (node.get("spec") or {}).get("taints") or []
        if not conditions.is_true(node_status.get("conditions"), "Ready"):
            p.set(kind.initialized, "Unknown", "NodeNotReady", "Node status is NotReady")
            return DONE
        startup = (p.obj.get("spec") or {}).get("startupTaints") or []
        waiting = [t["key"] for t in startup if any(_same_taint(t, n) for n in taints)]
        if waiting:
            p.set(kind.initialized, "Unknown", "StartupTaintsExist", f"startup taints {waiting}")
            return DONE
        ephemeral = [
            t["key"] for t in taints if any(t.get("key") == k for k, _ in EPHEMERAL_TAINTS)
        ]
        if ephemeral:
            p.set(
                kind.initialized,
                "Unknown",
                "KnownEphemeralTaintsExist",
                f"known ephemeral taints {ephemeral}",
            )
            return DONE
        allocatable = node_status.get("allocatable") or {}
        requests = ((p.obj.get("spec") or {}).get("resources") or {}).get("requests") or {}
        missing = [
            name
            for name, quantity in requests.items()
            if name not in UNCHECKED_RESOURCES
            and _positive(quantity)
            and not _positive(allocatable.get(name, "0"))
        ]
        if missing:
            p.set(
                kind.initialized,
                "Unknown",
                "ResourceNotRegistered",
                f"resources {missing} not registered",
            )
            return DONE
        labels = node["metadata"].get("labels") or {}
        if labels.get(constants.LABEL_INITIALIZED) != "true":
            await resources.patch(
                self._api,
                resources.NODES,
                node["metadata"]["name"],
                {"metadata": {"labels": {constants.LABEL_INITIALIZED: "true"}}},
            )
        p.set(kind.initialized, "True", kind.initialized, "")
        return None

    # -- termination -------------------------------------------------------------------------------

    async def _terminate(self, obj: Object) -> Result:
        meta = obj["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return DONE
        self._launches.forget(meta["uid"])
        nodes = self._claim_nodes(obj)
        deadline = self._drain_deadline(obj)
        for node in nodes:
            if not await self._drain(node, deadline):
                return Result(requeue_after=self._timing.poll_interval_seconds)
        try:
            await self._provider.delete(claim_from_object(obj))
        except NodeClaimNotFoundError:
            pass
        except TransientError as exc:
            self._log.info("instance deletion waits", reason=str(exc))
            return Result(requeue_after=self._timing.poll_interval_seconds)
        else:
            return Result(requeue_after=self._timing.poll_interval_seconds)
        for node in nodes:
            await self._release_node(node)
        remaining = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
        await self._patch_claim(obj, {"finalizers": remaining})
        self._launches.forget(meta["uid"])
        metrics.NODECLAIMS_TERMINATED.labels(nodepool_of(obj), "on-demand").inc()
        self._log.info("terminated claim")
        return DONE

    def _claim_nodes(self, claim: Object) -> list[Object]:
        """Every Node of a claim being terminated: through its status (providerID, nodeName),
        and, since registration writes the Node before the status that records it (a write that
        can be lost to a conflict), by owner reference or by the claim's Node label."""
        meta = claim["metadata"]
        status = claim.get("status") or {}
        found = {n["metadata"]["name"]: n for n in self._nodes_for(status.get("providerID") or "")}
        node_name = status.get("nodeName") or ""
        if node_name and (named := self._nodes.get(node_name)) is not None:
            found.setdefault(node_name, named)
        label = self._kind.node_label
        for node in self._nodes:
            node_meta = node["metadata"]
            owners = node_meta.get("ownerReferences") or []
            if any(o.get("uid") == meta["uid"] for o in owners) or (
                label
                and (node_meta.get("labels") or {}).get(label) == meta["name"]
                and not any(
                    o.get("kind") == self._kind.kind and o.get("uid") != meta["uid"] for o in owners
                )
            ):
                found.setdefault(node_meta["name"], node)
        return list(found.values())

    def _drain_deadline(self, obj: Object) -> datetime.datetime:
        deleted = _parse_time(obj["metadata"].get("deletionTimestamp")) or self._clock.now()
        raw = (obj.get("spec") or {}).get("terminationGracePeriod")
        seconds = _duration_seconds(raw) if raw else self._timing.termination_grace_period_seconds
        return deleted + datetime.timedelta(seconds=seconds)

    async def _drain(self, node: Object, deadline: datetime.datetime) -> bool:
        """Cordon and evict; True once no evictable pod is left (or the deadline passed)."""
        name = node["metadata"]["name"]
        spec = node.get("spec") or {}
        if not spec.get("unschedulable") or not any(
            t.get("key") == constants.TAINT_DISRUPTED for t in spec.get("taints") or []
        ):
            taints = [
                t for t in spec.get("taints") or [] if t.get("key") != constants.TAINT_DISRUPTED
            ]
            taints.append({"key": constants.TAINT_DISRUPTED, "effect": "NoSchedule"})
            await self._patch_node(name, {"spec": {"unschedulable": True, "taints": taints}})
        pods = await self._pods_on(name)
        if not pods:
            return True
        force = self._clock.now() >= deadline
        for pod in pods:
            pmeta = pod["metadata"]
            if pmeta.get("deletionTimestamp") and not force:
                continue
            path = f"/api/v1/namespaces/{pmeta['namespace']}/pods/{pmeta['name']}"
            try:
                if force:
                    await resources.call(self._api, "DELETE", path, body={"gracePeriodSeconds": 0})
                else:
                    eviction = {
                        "apiVersion": "policy/v1",
                        "kind": "Eviction",
                        "metadata": {"name": pmeta["name"], "namespace": pmeta["namespace"]},
                    }
                    await resources.call(self._api, "POST", f"{path}/eviction", body=eviction)
            except ApiException as exc:
                if exc.status not in (404, 429):  # 429: a PodDisruptionBudget says not yet
                    raise
        return force

    async def _pods_on(self, node: str) -> list[Object]:
        page = await resources.call(
            self._api, "GET", "/api/v1/pods", query=[("fieldSelector", f"spec.nodeName={node}")]
        )
        pods = []
        for pod in page.get("items") or []:
            meta = pod["metadata"]
            if any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences") or []):
                continue
            if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            pods.append(pod)
        return pods

    async def _release_node(self, node: Object) -> None:
        await release_node(self._api, self._nodes.get(node["metadata"]["name"]) or node)

    # -- writes ------------------------------------------------------------------------------------

    async def _patch_node(self, name: str, body: Mapping[str, Any]) -> None:
        await resources.patch(self._api, resources.NODES, name, body)

    async def _patch_claim(self, obj: Object, metadata: Mapping[str, Any]) -> None:
        body = {"metadata": {**metadata, "resourceVersion": obj["metadata"]["resourceVersion"]}}
        await resources.patch(self._api, self._kind.resource, obj["metadata"]["name"], body)

    async def _write_status_or_report(self, obj: Object, status: Mapping[str, Any]) -> Object:
        """The status write; one the API server refuses as invalid is also a Warning Event with
        its causes (the status cannot carry them)."""
        try:
            return await self._write_status(obj, status)
        except ApiException as exc:
            if exc.status in INVALID:
                message = f"writing the status: {error_message(exc)}"
                await self._events.record(
                    obj, type_=WARNING, reason="FailedStatusUpdate", message=message
                )
            raise

    async def _write_status(self, obj: Object, status: Mapping[str, Any]) -> Object:
        updated = {**obj, "status": dict(status)}
        return await resources.replace_status(self._api, self._kind.resource, updated)

    async def _label_claim(self, obj: Object, resolved: Mapping[str, str]) -> None:
        """Add the labels the requirements pin, and :data:`LAUNCHED_LABELS`, as Karpenter's launch
        does; never overwrite. Values are spelled as the launched instance (this pass) or its
        Node (later) spell them."""
        node = self._nodes.get((obj.get("status") or {}).get("nodeName") or "")
        node_labels = ((node or {}).get("metadata") or {}).get("labels") or {}
        resolved = resolved or node_labels
        missing = missing_requirement_labels(obj, resolved)
        present = (obj.get("metadata") or {}).get("labels") or {}
        for key in LAUNCHED_LABELS:  # what the launch found out: the claim's printer columns
            value = resolved.get(key) or node_labels.get(key)
            if value and key not in present and key not in missing:
                missing[key] = value
        if not missing:
            return
        try:
            await self._patch_claim(obj, {"labels": missing})
        except ApiException as exc:
            if exc.status not in INVALID:
                raise
            # Labels only show what was launched: report, and go on with the lifecycle.
            message = f"labelling the claim {missing}: {error_message(exc)}"
            self._log.warning("labelling the claim failed", error=message)
            await self._events.record(obj, type_=WARNING, reason="FailedLabeling", message=message)

    async def _delete_claim(self, obj: Object, reason: str) -> None:
        meta = obj["metadata"]
        metrics.NODECLAIMS_DISRUPTED.labels(reason, nodepool_of(obj), "on-demand").inc()
        self._log.info("deleting claim", reason=reason)
        try:
            await resources.delete(
                self._api, self._kind.resource, meta["name"], preconditions_uid=meta["uid"]
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise


@dataclasses.dataclass
class _Pass:
    """One reconcile's working copy of the status."""

    obj: Object
    status: Object
    kind: ClaimKind
    now: datetime.datetime
    delete_reason: str = ""
    resolved_labels: dict[str, str] = dataclasses.field(default_factory=dict)
    """Labels of the instance launched in this pass (the provider's spelling of its type)."""
    after_write: list[Callable[[], None]] = dataclasses.field(default_factory=list)
    """Counters to move once the status write of this pass has succeeded."""

    @property
    def conditions(self) -> list[Object]:
        return list(self.status.get("conditions") or [])

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        generation = (
            self.obj["metadata"].get("generation") if self.kind.observed_generation else None
        )
        self.status["conditions"] = conditions.set_condition(
            self.status.get("conditions"),
            type_=type_,
            status=status,
            reason=reason,
            message=message[:MESSAGE_LIMIT],
            now=self.now,
            observed_generation=generation,
        )

    def initialize_conditions(self) -> None:
        for type_ in (self.kind.launched, self.kind.registered, self.kind.initialized):
            if conditions.find(self.conditions, type_) is None:
                self.set(
                    type_, "Unknown", "AwaitingReconciliation", "object is awaiting reconciliation"
                )

    def set_ready(self) -> None:
        kind = self.kind
        dependents = [
            conditions.find(self.conditions, t) or {}
            for t in (kind.launched, kind.registered, kind.initialized)
        ]
        if all(d.get("status") == "True" for d in dependents):
            self.set(kind.ready, "True", kind.ready, "")
            return
        summary = ", ".join(
            f"{t}={d.get('status', 'Unknown')}"
            for t, d in zip(
                (kind.launched, kind.registered, kind.initialized), dependents, strict=True
            )
            if d.get("status") != "True"
        )
        if any(d.get("status") == "False" for d in dependents):
            self.set(kind.ready, "False", "UnhealthyDependents", summary)
        else:
            self.set(kind.ready, "Unknown", "ReconcilingDependents", summary)


def _no_labels(claim: Object) -> Sequence[tuple[str, str]]:
    del claim
    return ()


def _has_any_label(obj: Mapping[str, Any], pairs: Sequence[tuple[str, str]]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return any(labels.get(key) == value for key, value in pairs)


def _message(error: BaseException) -> str:
    return (getattr(error, "message", None) or str(error) or type(error).__name__)[:MESSAGE_LIMIT]


def _parse_time(raw: str | None) -> datetime.datetime | None:
    if not raw:
        return None
    return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _age(obj: Mapping[str, Any], now: datetime.datetime) -> float:
    created = _parse_time(obj["metadata"].get("creationTimestamp")) or now
    return (now - created).total_seconds()


def _same_taint(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def _positive(quantity: Any) -> bool:
    try:
        return parse_quantity(str(quantity)) > 0
    except ValueError:
        return False


_DURATION_PART = re.compile(r"([0-9]+)(h|m|s)")


def _duration_seconds(raw: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * units[u] for n, u in _DURATION_PART.findall(raw)))


async def release_node(api: ApiClient, node: Object) -> None:
    """Drop our finalizer from ``node`` (its latest cached copy) and delete it; a Node already
    gone is released."""
    name = node["metadata"]["name"]
    finalizers = [f for f in node["metadata"].get("finalizers") or [] if f != FINALIZER]
    try:
        await resources.patch(api, resources.NODES, name, {"metadata": {"finalizers": finalizers}})
        await resources.delete(api, resources.NODES, name)
    except ApiException as exc:
        if exc.status != 404:
            raise
    metrics.NODES_TERMINATED.labels(nodepool_of(node)).inc()


def claims_of_node(
    kind: ClaimKind,
    claims: Informer,
    instance_node_labels: Callable[[Object], Sequence[tuple[str, str]]] | None = None,
) -> Callable[[Object], list[Request]]:
    """Map a Node event to its claim: by owner reference once registered, else by providerID,
    else by the instance's labels (see :meth:`ClaimLifecycle._nodes_for_claim`)."""
    node_labels = instance_node_labels or _no_labels

    def mapper(node: Object) -> list[Request]:
        meta = node.get("metadata") or {}
        owned = [
            Request("", o["name"])
            for o in meta.get("ownerReferences") or []
            if o.get("kind") == kind.kind
        ]
        if owned:
            return owned
        provider_id = ((node.get("spec") or {}).get("providerID") or "").lower()
        return [
            Request("", c["metadata"]["name"])
            for c in claims
            if (
                provider_id
                and ((c.get("status") or {}).get("providerID") or "").lower() == provider_id
            )
            or _has_any_label(node, node_labels(c))
        ]

    return mapper
