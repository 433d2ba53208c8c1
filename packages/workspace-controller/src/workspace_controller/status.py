"""Compute a Workspace's status from what exists right now. Pure: no I/O, no clock of its own.

Every reconcile pass rebuilds the status from live objects (claims, nodes, the Job or the
workload and its pods), so the status is always an observation, never a memory of what the
controller did; the reconciler writes it at most once per pass and only when it changed. The
condition types, reasons and ``state`` values are Kaito's, so ``kubectl get workspace`` reads
the same; a cloud error reported on a claim (quota, unknown SKU) is copied into the claim and
ResourceReady conditions so the user sees it on the Workspace itself. :func:`new_failures` says
which blocked or failed states a new status reports for the first time: the reconciler records
each as a Warning Event on the Workspace. Instance types compare case-insensitively.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from controller_kit import conditions
from kaito_apis.karpenter import constants as karpenter
from kaito_apis.workspace.constants import ConditionType, State
from preset_catalog import GPU_RESOURCE_NAME, UnknownNameError, get_instance_type
from workspace_controller import kinds

if TYPE_CHECKING:
    import datetime

Object = Mapping[str, Any]
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Blocker:
    """Why the controller cannot go on (bad config, unfit spec); shown as a condition."""

    condition: ConditionType
    reason: str
    message: str
    fatal: bool = True
    """False for a failure the controller retries by itself (an API error), which leaves a tuning
    Workspace Pending rather than Failed."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observation:
    """Everything the status is computed from, read from the caches in one pass."""

    generation: int
    mode: str  # "tuning" | "inference"
    claim_api: kinds.ClaimApi | None
    instance_type: str | None
    target_node_count: int
    claims: Sequence[Object] = ()
    nodes: Sequence[Object] = ()
    job: Object | None = None
    workload: Object | None = None
    pods: Sequence[Object] = ()
    deleting: bool = False
    blockers: Sequence[Blocker] = ()
    previous: Mapping[str, Any] = dataclasses.field(default_factory=dict)


# -- nodes and claims -----------------------------------------------------------------------------


def node_is_ready(node: Object) -> bool:
    if node.get("metadata", {}).get("deletionTimestamp"):
        return False
    return conditions.is_true(node.get("status", {}).get("conditions"), "Ready")


def node_gpu_count(node: Object) -> int:
    raw = (node.get("status", {}).get("capacity") or {}).get(GPU_RESOURCE_NAME, "0")
    try:
        return int(str(raw))
    except ValueError:
        return 0


def same_instance_type(label: str | None, wanted: str) -> bool:
    """Whether a node's instance-type label names ``wanted``.

    Azure treats VM sizes case-insensitively and AKS labels nodes with the canonical spelling
    (``Standard_NC6s_v3``) whatever the Workspace wrote, so names are compared case-insensitively;
    two spellings of one catalog entry (a name and its alias) are the same type too.
    """
    if not label:
        return False
    if label.casefold() == wanted.casefold():
        return True
    try:
        return get_instance_type(label).name == get_instance_type(wanted).name
    except UnknownNameError:
        return False


def usable_nodes(nodes: Sequence[Object], instance_type: str | None) -> list[Object]:
    """Ready, not deleting, of the requested instance type, reporting GPUs."""
    return [
        n
        for n in nodes
        if node_is_ready(n)
        and node_gpu_count(n) > 0
        and (
            not instance_type
            or same_instance_type(
                (n["metadata"].get("labels") or {}).get(INSTANCE_TYPE_LABEL), instance_type
            )
        )
    ]


def claim_is_ready(claim: Object, api: kinds.ClaimApi) -> bool:
    if claim.get("metadata", {}).get("deletionTimestamp"):
        return False
    return conditions.is_true(claim.get("status", {}).get("conditions"), kinds.CLAIM_READY[api])


_NC, _MACHINE = karpenter.NodeClaimConditionType, karpenter.MachineConditionType
_LATER_LIFECYCLE: Mapping[kinds.ClaimApi, tuple[str, ...]] = {
    "nodeclaim": (_NC.REGISTERED, _NC.INITIALIZED),
    "machine": (_MACHINE.REGISTERED, _MACHINE.INITIALIZED),
}


def claim_problem(claim: Object, api: kinds.ClaimApi) -> tuple[str, str] | None:
    """(reason, message) when the provider reported a failure on the claim: a launch that failed
    or is failing (Launched False, or Unknown with a message), or a later lifecycle step that
    failed (Registered or Initialized False, e.g. several Nodes claim the instance)."""
    found = claim.get("status", {}).get("conditions")
    launched = conditions.find(found, kinds.CLAIM_LAUNCHED[api])
    if launched is not None and launched.get("status") != TRUE:
        reason = str(launched.get("reason") or "")
        message = str(launched.get("message") or "")
        if launched.get("status") == FALSE or (message and reason != "AwaitingReconciliation"):
            return reason or "LaunchFailed", message
        return None
    for type_ in _LATER_LIFECYCLE[api]:
        step = conditions.find(found, type_)
        if step is not None and step.get("status") == FALSE:
            return str(step.get("reason") or f"{type_}Failed"), str(step.get("message") or "")
    return None


# -- the status -----------------------------------------------------------------------------------

PROGRESS_REASONS = frozenset(
    {
        "AwaitingReconciliation",
        "Launching",
        "NodeClaimNotReady",
        "MachineNotReady",
        "NodesNotReady",
        "NodePluginsNotReady",
        "JobNotCreated",
        "TuningPending",
        "TuningJobPending",
        "TuningJobRunning",
        "WorkloadNotCreated",
        "InferencePending",
        "WorkloadNotReady",
    }
)
"""Reasons of a False condition that only mean "not there yet". Every other False reason is a
blocked or failed state (a provider's launch error, a bad spec, a failed Job, a rejected write)."""


def new_failures(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(reason, message)`` of each blocked or failed state ``current`` reports and ``previous``
    did not: the Warning Events to record on the Workspace.

    A condition counts once, when it turns False with a failure reason (or changes to another
    one); the same failure seen again on the next reconcile, or with a new message, is not new.
    Conditions mirroring one failure (a claim's and ResourceReady) give one entry.
    """
    before = {c.get("type"): c for c in previous.get("conditions") or []}
    found: list[tuple[str, str]] = []
    for condition in current.get("conditions") or []:
        reason = str(condition.get("reason") or "")
        if condition.get("status") != FALSE or not reason or reason in PROGRESS_REASONS:
            continue
        old = before.get(condition.get("type")) or {}
        if old.get("status") == FALSE and old.get("reason") == reason:
            continue
        entry = (reason, str(condition.get("message") or ""))
        if entry not in found:
            found.append(entry)
    return found


def compute(obs: Observation, *, now: datetime.datetime) -> dict[str, Any]:
    """The new ``status`` object."""
    current: list[dict[str, Any]] = list(obs.previous.get("conditions") or [])

    def put(type_: str, status: str, reason: str, message: str) -> None:
        nonlocal current
        current = conditions.set_condition(
            current,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            now=now,
            observed_generation=obs.generation,
        )

    ready_nodes = usable_nodes(obs.nodes, obs.instance_type)
    blockers = {b.condition: b for b in obs.blockers}
    resource_ready = _resources(obs, ready_nodes, blockers, put)
    if ConditionType.RESOURCE_READY in blockers:
        b = blockers[ConditionType.RESOURCE_READY]
        put(ConditionType.RESOURCE_READY, FALSE, b.reason, b.message)
        resource_ready = False

    if obs.mode == "tuning":
        state = _tuning(obs, resource_ready, blockers, put)
    else:
        state = _inference(obs, resource_ready, blockers, put)

    if obs.deleting:
        put(ConditionType.WORKSPACE_DELETING, TRUE, "Deleting", "workspace is being deleted")

    status: dict[str, Any] = {
        "conditions": current,
        "workerNodes": sorted(n["metadata"]["name"] for n in ready_nodes),
        "state": str(state),
        "targetNodeCount": obs.target_node_count,
    }
    if "performance" in obs.previous:
        status["performance"] = obs.previous["performance"]
    return status


def _resources(
    obs: Observation,
    ready_nodes: list[Object],
    blockers: Mapping[ConditionType, Blocker],
    put: Any,
) -> bool:
    """Set the claim, NodesReady and ResourceReady conditions; True when resources are ready."""
    target = obs.target_node_count
    failure: tuple[str, str] | None = None
    if obs.claim_api is not None:
        machine = obs.claim_api == "machine"
        claim_type = ConditionType.MACHINE_READY if machine else ConditionType.NODE_CLAIM_READY
        kind = "Machine" if machine else "NodeClaim"
        ready_claims = [c for c in obs.claims if claim_is_ready(c, obs.claim_api)]
        problems = [
            (c["metadata"]["name"], p)
            for c in obs.claims
            if (p := claim_problem(c, obs.claim_api)) is not None
        ]
        needed = max(0, target - _nodes_without_claims(ready_nodes))
        if claim_type in blockers:  # a claim could not even be created
            b = blockers[claim_type]
            failure = (b.reason, b.message)
            put(claim_type, FALSE, *failure)
        elif len(ready_claims) >= needed:
            put(claim_type, TRUE, f"{kind}sReady", f"{len(ready_claims)} {kind}(s) ready")
        elif problems:
            name, (reason, message) = problems[0]
            failure = (reason, f"{kind} {name}: {message}")
            put(claim_type, FALSE, *failure)
        else:
            failure = (f"{kind}NotReady", f"{len(ready_claims)} of {needed} {kind}(s) ready")
            put(claim_type, FALSE, *failure)

    if len(ready_nodes) >= target:
        put(ConditionType.NODES_READY, TRUE, "NodesReady", f"{len(ready_nodes)} node(s) ready")
    else:
        plugin_missing = [n for n in obs.nodes if node_is_ready(n) and node_gpu_count(n) == 0]
        reason = "NodePluginsNotReady" if plugin_missing else "NodesNotReady"
        detail = (
            f"; {len(plugin_missing)} node(s) report no {GPU_RESOURCE_NAME} capacity yet"
            if plugin_missing
            else ""
        )
        nodes_failure = (reason, f"{len(ready_nodes)} of {target} node(s) ready{detail}")
        put(ConditionType.NODES_READY, FALSE, *nodes_failure)
        failure = failure or nodes_failure

    if failure is None:
        put(ConditionType.RESOURCE_READY, TRUE, "ResourcesReady", "GPU nodes are ready")
        return True
    put(ConditionType.RESOURCE_READY, FALSE, *failure)
    return False


def _nodes_without_claims(ready_nodes: list[Object]) -> int:
    """Ready matching nodes not created through a claim (bring-your-own) count toward the target."""
    return sum(
        1
        for n in ready_nodes
        if not {"karpenter.sh/nodepool", "karpenter.sh/provisioner-name"}
        & set(n["metadata"].get("labels") or {})
    )


def _reports_a_failure(previous: Mapping[str, Any], type_: str) -> bool:
    """Whether ``previous`` has ``type_`` False for a failure (a blocker that has since gone)."""
    found = conditions.find(previous.get("conditions"), type_)
    return (
        found is not None
        and found.get("status") == FALSE
        and str(found.get("reason") or "") not in PROGRESS_REASONS
    )


def _tuning(
    obs: Observation, resource_ready: bool, blockers: Mapping[ConditionType, Blocker], put: Any
) -> State:
    job = obs.job
    if ConditionType.JOB_STARTED in blockers:
        b = blockers[ConditionType.JOB_STARTED]
        put(ConditionType.JOB_STARTED, FALSE, b.reason, b.message)
        put(ConditionType.WORKSPACE_SUCCEEDED, FALSE, b.reason, b.message)
        return State.FAILED if b.fatal else State.PENDING
    if job is None:
        if resource_ready:
            put(ConditionType.JOB_STARTED, FALSE, "JobNotCreated", "tuning Job not created yet")
        elif _reports_a_failure(obs.previous, ConditionType.JOB_STARTED):
            put(ConditionType.JOB_STARTED, FALSE, "JobNotCreated", "waiting for GPU nodes")
        put(ConditionType.WORKSPACE_SUCCEEDED, FALSE, "TuningPending", "waiting for GPU nodes")
        return State.PENDING
    status = job.get("status") or {}
    job_conditions = status.get("conditions") or []
    name = job["metadata"]["name"]
    if conditions.is_true(job_conditions, "Failed"):
        failed = conditions.find(job_conditions, "Failed") or {}
        message = f"Job {name} failed: {failed.get('message') or failed.get('reason') or ''}"
        put(ConditionType.JOB_STARTED, FALSE, "TuningJobFailed", message)
        put(ConditionType.WORKSPACE_SUCCEEDED, FALSE, "TuningJobFailed", message)
        return State.FAILED
    if conditions.is_true(job_conditions, "Complete") or status.get("succeeded"):
        put(ConditionType.JOB_STARTED, TRUE, "TuningJobStarted", f"Job {name} started")
        put(
            ConditionType.WORKSPACE_SUCCEEDED,
            TRUE,
            "TuningJobSucceeded",
            f"Job {name} completed; the adapter is at the configured output",
        )
        return State.SUCCEEDED
    if status.get("active") or status.get("ready"):
        put(ConditionType.JOB_STARTED, TRUE, "TuningJobStarted", f"Job {name} is running")
        put(ConditionType.WORKSPACE_SUCCEEDED, FALSE, "TuningJobRunning", f"Job {name} is running")
        return State.RUNNING
    put(ConditionType.JOB_STARTED, FALSE, "TuningJobPending", f"Job {name} has no running pod yet")
    put(ConditionType.WORKSPACE_SUCCEEDED, FALSE, "TuningJobPending", f"Job {name} is pending")
    return State.PENDING


def _inference(
    obs: Observation, resource_ready: bool, blockers: Mapping[ConditionType, Blocker], put: Any
) -> State:
    previous_state = obs.previous.get("state")
    if ConditionType.INFERENCE_READY in blockers:
        b = blockers[ConditionType.INFERENCE_READY]
        put(ConditionType.INFERENCE_READY, FALSE, b.reason, b.message)
        put(ConditionType.WORKSPACE_SUCCEEDED, FALSE, b.reason, b.message)
        return (
            State.NOT_READY if previous_state in (State.READY, State.NOT_READY) else State.PENDING
        )
    workload = obs.workload
    if workload is None:
        if resource_ready:
            put(
                ConditionType.INFERENCE_READY,
                FALSE,
                "WorkloadNotCreated",
                "workload not created yet",
            )
        elif _reports_a_failure(obs.previous, ConditionType.INFERENCE_READY):
            put(ConditionType.INFERENCE_READY, FALSE, "WorkloadNotCreated", "waiting for GPU nodes")
        put(ConditionType.WORKSPACE_SUCCEEDED, FALSE, "InferencePending", "waiting for GPU nodes")
        return State.PENDING
    wanted = int((workload.get("spec") or {}).get("replicas", 1))
    ready = int((workload.get("status") or {}).get("readyReplicas") or 0)
    kind = workload.get("kind", "Deployment")
    name = workload["metadata"]["name"]
    rollout = rollout_pending(workload)
    if wanted > 0 and ready >= wanted and resource_ready and rollout is None:
        put(ConditionType.INFERENCE_READY, TRUE, "InferenceReady", f"{kind} {name} is ready")
        put(ConditionType.WORKSPACE_SUCCEEDED, TRUE, "InferenceReady", "the model is being served")
        return State.READY
    reason, message = classify_pods(obs.pods)
    if ready < wanted or wanted == 0:
        waiting = f"{ready}/{wanted} replicas ready"
    elif rollout is not None:
        waiting = f"waiting for the rollout: {rollout}"
    else:
        waiting = f"{ready}/{wanted} replicas ready, waiting for the GPU nodes (see ResourceReady)"
    message = f"{kind} {name}: {waiting}" + (f"; {message}" if message else "")
    put(ConditionType.INFERENCE_READY, FALSE, reason, message)
    put(ConditionType.WORKSPACE_SUCCEEDED, FALSE, reason, message)
    return State.NOT_READY if previous_state in (State.READY, State.NOT_READY) else State.PENDING


def rollout_pending(workload: Object) -> str | None:
    """What the workload's rollout still waits for (its controller has not seen the latest spec,
    replicas not updated yet, old replicas still there), or None once it is complete."""
    spec_replicas = int((workload.get("spec") or {}).get("replicas", 1))
    status = workload.get("status") or {}
    generation = int((workload.get("metadata") or {}).get("generation") or 0)
    observed = status.get("observedGeneration")
    if generation and observed is not None and int(observed) < generation:
        return f"generation {generation} not observed yet (observed {observed})"
    updated = int(status.get("updatedReplicas", status.get("readyReplicas") or 0))
    if updated < spec_replicas:
        return f"{updated} of {spec_replicas} replicas updated"
    total = int(status.get("replicas", spec_replicas))
    if total > spec_replicas:
        return f"{total - spec_replicas} old replica(s) still terminating"
    return None


_WAITING_REASONS = {
    "ImagePullBackOff": "ImagePullError",
    "ErrImagePull": "ImagePullError",
    "InvalidImageName": "ImagePullError",
    "CrashLoopBackOff": "ContainerCrashLoopBackOff",
    "CreateContainerConfigError": "ContainerConfigError",
}


def classify_pods(pods: Sequence[Object]) -> tuple[str, str]:
    """The most telling reason the workload's pods are not ready (Kaito's classification)."""
    for pod in pods:
        status = pod.get("status") or {}
        pod_name = pod["metadata"]["name"]
        if status.get("reason") == "Evicted":
            return "PodEvicted", f"pod {pod_name} was evicted: {status.get('message', '')}"
        for cs in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _WAITING_REASONS:
                return _WAITING_REASONS[waiting["reason"]], (
                    f"pod {pod_name} container {cs.get('name')}: {waiting.get('reason')}"
                    + (f": {waiting['message']}" if waiting.get("message") else "")
                )
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if last.get("reason") == "OOMKilled":
                return (
                    "ContainerOOMKilled",
                    f"pod {pod_name} container {cs.get('name')} ran out of memory",
                )
        scheduled = conditions.find(status.get("conditions"), "PodScheduled")
        if scheduled is not None and scheduled.get("status") == FALSE:
            return "Unschedulable", f"pod {pod_name}: {scheduled.get('message', '')}"
    return "WorkloadNotReady", ""
