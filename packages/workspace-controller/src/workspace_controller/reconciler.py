"""The Workspace reconciler: nodes through Karpenter claims, then the tuning Job or the inference
workload, then one status write.

Level-based: each pass reads the Workspace and everything it owns from the caches, creates or
replaces what is missing or stale, and recomputes the status from what exists (``status.py``).
Claims get deterministic names (a hash of the Workspace's uid and an index), so even a restart
that races its own cache cannot create a duplicate; an expectations set additionally keeps a
pass from re-issuing creates the cache has not shown yet. Claims are created at most
``claim_batch_size`` per pass (the claims' watch events bring the next pass), so a Workspace
asking for many nodes neither monopolises a worker nor outruns its own deletion; a Workspace the
cache shows being deleted gets nothing created, and the creates of a pass stop as soon as it
does. Deleting a Workspace deletes its claims and releases the finalizer once they are gone, and
never hangs when no claim API is served.

The status is written on every pass, a failed write to the API server included (its condition
carries the server's causes, :func:`controller_kit.error_message`), and each blocked or failed
state the status newly reports is also a Warning Event on the Workspace itself.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

import pydantic
import structlog
import yaml
from kubernetes_asyncio.client.exceptions import ApiException

import preset_catalog
from controller_kit import (
    DONE,
    NORMAL,
    WARNING,
    Request,
    Resource,
    Result,
    TerminalError,
    conditions,
    error_message,
    resources,
)
from kaito_apis.workspace import constants, v1beta1
from kaito_apis.workspace.constants import ConditionType
from workspace_controller import admission, kinds, status
from workspace_controller.admission import rules as admission_rules
from workspace_controller.manifests import claims as claim_manifests
from workspace_controller.manifests import common, inference, tuning

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kubernetes_asyncio.client import ApiClient

    from controller_kit import Clock, EventRecorder
    from workspace_controller.caches import Caches
    from workspace_controller.settings import Settings

_log = structlog.get_logger("workspace")
DEFAULT_OUTPUT_DIR = "/mnt/results"
CLAIM_BATCH_SIZE = 10
"""The most claims one reconcile creates; the rest come on the next passes."""
_NAMESPACES = Resource(
    group="", version="v1", plural="namespaces", kind="Namespace", namespaced=False
)


class _WriteFailed(Exception):
    """A create or update the API server rejected, said as a status blocker."""

    def __init__(self, blocker: status.Blocker, cause: ApiException) -> None:
        super().__init__(blocker.message)
        self.blocker = blocker
        self.cause = cause


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """What the Workspace asks for, resolved against the catalog."""

    mode: str
    preset: preset_catalog.Preset | None
    instance_type: preset_catalog.InstanceType | None
    target_node_count: int
    blockers: tuple[status.Blocker, ...] = ()


class WorkspaceReconciler:
    """Reconciles one Workspace per call (see the module docstring)."""

    def __init__(
        self,
        *,
        api: ApiClient,
        caches: Caches,
        settings: Settings,
        claim_api: kinds.ClaimApi | None,
        events: EventRecorder,
        clock: Clock,
        claim_batch_size: int = CLAIM_BATCH_SIZE,
    ) -> None:
        if claim_batch_size < 1:
            raise ValueError("claim_batch_size must be at least 1")
        self._api = api
        self._caches = caches
        self._settings = settings
        self._claim_api = claim_api
        self._events = events
        self._clock = clock
        self._claim_batch_size = claim_batch_size
        self._expected: dict[Request, set[str]] = {}
        self._labelled: set[str] = set()  # nodes given accelerator=nvidia (the cache may lag)

    # -- entry point ------------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result:
        obj = self._caches.workspaces.get(request.name, request.namespace)
        if obj is None:
            self._expected.pop(request, None)
            return DONE
        try:
            ws = v1beta1.Workspace.model_validate(obj)
        except pydantic.ValidationError as exc:
            # Retried only when the object changes, so this Event comes once per bad revision.
            message = f"cannot parse Workspace: {error_message(exc)}"
            await self._events.record(
                obj, type_=WARNING, reason="InvalidWorkspace", message=message
            )
            raise TerminalError(message) from exc
        if obj["metadata"].get("deletionTimestamp"):
            return await self._finalize(request, obj)
        if constants.FINALIZER not in (obj["metadata"].get("finalizers") or []):
            await self._add_finalizer(obj)
            return DONE  # the update event brings us back with a fresh cache

        plan = self._plan(ws, obj, max_nodes=await self._max_nodes(ws, request.namespace))
        config_problem = await self._config_problem(ws, obj, plan)
        if config_problem is not None:
            plan = dataclasses.replace(plan, blockers=(*plan.blockers, config_problem))
        if plan.blockers:
            await self._write_status(obj, self._observe(ws, obj, plan))
            return DONE

        try:
            requeue = await self._provision(request, ws, obj, plan)
            if self._being_deleted(obj):
                return DONE  # the deletion's update event brings the finalizing pass
            observation = self._observe(ws, obj, plan)
            ready_nodes = status.usable_nodes(observation.nodes, observation.instance_type)
            await self._label_gpu_nodes(ready_nodes)
            resource_ready = len(ready_nodes) >= plan.target_node_count and not requeue
            blockers: tuple[status.Blocker, ...] = ()
            if resource_ready:
                blockers = await self._apply_workload(ws, obj, plan)
                if self._being_deleted(obj):
                    return DONE
                observation = self._observe(ws, obj, plan, extra_blockers=blockers)
        except _WriteFailed as failed:
            # Report it (condition and Warning Event), then retry with the controller's backoff.
            _log.warning(
                "write rejected", reason=failed.blocker.reason, error=failed.blocker.message
            )
            await self._write_status(
                obj, self._observe(ws, obj, plan, extra_blockers=(failed.blocker,))
            )
            raise failed.cause from None
        new_status = await self._write_status(obj, observation)
        if new_status.get("state") in (constants.State.SUCCEEDED, constants.State.FAILED) or (
            new_status.get("state") == constants.State.READY
        ):
            return DONE
        return Result(requeue_after=self._settings.provisioning.node_ready_poll_seconds * 5)

    # -- planning ---------------------------------------------------------------------------------

    async def _max_nodes(self, ws: v1beta1.Workspace, namespace: str) -> int:
        """The cap on resource.count the admission policy applies here: the namespace's
        annotation where it has a readable one, else the global setting. The Namespace is read
        only for a Workspace above the global cap (and not at all without the RBAC to)."""
        cap = self._settings.provisioning.max_nodes_per_workspace
        if ws.resource.count <= cap:
            return cap
        try:
            ns = await resources.get(self._api, _NAMESPACES, namespace)
        except ApiException as exc:
            _log.info("cannot read the namespace's node cap", error=error_message(exc))
            return cap
        value = ((ns.get("metadata") or {}).get("annotations") or {}).get(
            admission_rules.ANNOTATION_MAX_NODES_PER_WORKSPACE, ""
        )
        return int(value) if re.fullmatch(r"[0-9]{1,4}", value) else cap

    def _plan(self, ws: v1beta1.Workspace, obj: dict[str, Any], *, max_nodes: int) -> Plan:
        mode = "tuning" if ws.tuning is not None else "inference"
        previous_target = int((obj.get("status") or {}).get("targetNodeCount") or 0)
        # Admission normally stops these; when it did not (no policy installed, or the Workspace
        # predates it), report them instead of provisioning GPUs for a model that cannot run.
        problems = admission.admission_violations(ws, max_nodes_per_workspace=max_nodes)
        blockers = (
            (
                status.Blocker(
                    condition=ConditionType.RESOURCE_READY,
                    reason=str(problems[0].code),
                    message="; ".join(str(v) for v in problems),
                ),
            )
            if problems
            else ()
        )
        preset = None
        preset_name = (
            ws.tuning.preset.name
            if ws.tuning is not None
            else (ws.inference.preset.name if ws.inference and ws.inference.preset else None)
        )
        if preset_name:
            try:
                preset = preset_catalog.resolve_preset(preset_name).preset
            except preset_catalog.UnknownNameError:
                preset = None
        instance_type = None
        if ws.resource.instance_type:
            try:
                instance_type = preset_catalog.get_instance_type(ws.resource.instance_type)
            except preset_catalog.UnknownNameError:
                instance_type = None
        target = previous_target or self._estimate(ws, mode, preset, instance_type)
        return Plan(
            mode=mode,
            preset=preset,
            instance_type=instance_type,
            target_node_count=target,
            blockers=blockers,
        )

    async def _config_problem(
        self, ws: v1beta1.Workspace, obj: dict[str, Any], plan: Plan
    ) -> status.Blocker | None:
        """A blocker when the ConfigMap the Workspace references (``tuning.config`` or
        ``inference.config``) does not exist, or a tuning one is invalid; checked before any GPU
        node is requested.

        Not terminal: the ConfigMaps are watched, so creating or fixing it brings the next pass.
        Once the workload of the current spec exists the reference has served its purpose and is
        not checked again (a finished tuning Job stays Succeeded if its ConfigMap goes).
        """
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if plan.mode == "tuning":
            assert ws.tuning is not None
            config = ws.tuning.config
            condition, reason = ConditionType.JOB_STARTED, "TuningConfigNotFound"
            workload = self._caches.jobs.get(name, namespace)
        else:
            config = ws.inference.config if ws.inference is not None else None
            condition, reason = ConditionType.INFERENCE_READY, "InferenceConfigNotFound"
            workload = self._caches.deployments.get(name, namespace) or (
                self._caches.statefulsets.get(name, namespace)
            )
        if not config:
            return None
        if workload is not None and (workload["metadata"].get("annotations") or {}).get(
            constants.ANNOTATION_REVISION
        ) == common.spec_hash(ws):
            return None
        found = await self._user_configmap(config, namespace)
        if found is not None:
            if ws.tuning is None:
                return None
            return _invalid_tuning_config(found, method=ws.tuning.method.lower())
        _log.info("referenced ConfigMap missing", configmap=f"{namespace}/{config}")
        return status.Blocker(
            condition=condition,
            reason=reason,
            message=f"ConfigMap {namespace}/{config} not found: no GPU node is requested until "
            "it exists (creating it resumes this Workspace)",
            fatal=False,
        )

    async def _user_configmap(self, name: str, namespace: str) -> dict[str, Any] | None:
        """The ConfigMap from the cache, or from the API server when the cache does not show it
        (yet): a ConfigMap created just before its Workspace is not reported missing."""
        found = self._caches.configmaps.get(name, namespace)
        if found is not None:
            return found
        try:
            return await resources.get(self._api, kinds.CONFIGMAPS, name, namespace=namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return None

    @staticmethod
    def _estimate(
        ws: v1beta1.Workspace,
        mode: str,
        preset: preset_catalog.Preset | None,
        instance_type: preset_catalog.InstanceType | None,
    ) -> int:
        if mode == "tuning" or preset is None or instance_type is None:
            return ws.resource.count
        runtime = (ws.metadata.annotations or {}).get(constants.ANNOTATION_RUNTIME)
        try:
            return preset_catalog.estimate_node_count(
                preset,
                instance_type,
                runtime=preset_catalog.Runtime(runtime) if runtime else None,
                requested_node_count=ws.resource.count,
            ).node_count
        except (preset_catalog.NodeEstimateError, ValueError):
            return ws.resource.count

    # -- nodes ------------------------------------------------------------------------------------

    async def _provision(
        self, request: Request, ws: v1beta1.Workspace, obj: dict[str, Any], plan: Plan
    ) -> bool:
        """Create missing claims, at most a batch per pass; True while claims are still to come
        (created ones not in the cache yet, or more than one batch missing)."""
        if self._claim_api is None or not ws.resource.instance_type:
            return False
        instance_type = _spelling(ws.resource.instance_type, plan.instance_type)
        namespace, name = request.namespace, request.name
        existing = {c["metadata"]["name"] for c in self._caches.claims_of(namespace, name)}
        expected = self._expected.setdefault(request, set())
        expected -= existing
        if expected:
            return True
        byo = status.usable_nodes(self._byo_nodes(ws, namespace, name), ws.resource.instance_type)
        needed = max(0, plan.target_node_count - len(byo))
        storage = int(plan.preset.disk_gib) if plan.preset else None
        storage_gib = storage or self._settings.provisioning.default_storage_gib
        uid = obj["metadata"]["uid"]
        created = 0
        for index in range(needed):
            claim_name = claim_manifests.claim_name(
                namespace=namespace, name=name, seed=f"{uid}-{index}"
            )
            if claim_name in existing:
                continue
            if created >= self._claim_batch_size:
                return True  # the created claims' events bring the next pass
            if self._being_deleted(obj):
                return False
            created += 1
            build = (
                claim_manifests.machine
                if self._claim_api == "machine"
                else claim_manifests.nodeclaim
            )
            manifest = build(
                ws,
                name=claim_name,
                instance_type=instance_type,
                storage_gib=storage_gib,
                settings=self._settings.provisioning,
            )
            kind = manifest["kind"]
            try:
                await resources.create(self._api, kinds.CLAIMS[self._claim_api], manifest)
            except ApiException as exc:
                if exc.status == 409:
                    expected.add(claim_name)
                    continue
                claim_condition = (
                    ConditionType.MACHINE_READY
                    if self._claim_api == "machine"
                    else ConditionType.NODE_CLAIM_READY
                )
                blocker = status.Blocker(
                    condition=claim_condition,
                    reason=f"{kind}CreationFailed",
                    message=f"creating {kind} {claim_name} failed: {error_message(exc)}",
                    fatal=False,
                )
                raise _WriteFailed(blocker, exc) from exc
            expected.add(claim_name)
            _log.info("created claim", kind=kind, claim=claim_name)
            await self._events.record(
                obj, type_=NORMAL, reason=f"{kind}Created", message=f"created {kind} {claim_name}"
            )
        return bool(expected)

    def _byo_nodes(self, ws: v1beta1.Workspace, namespace: str, name: str) -> list[dict[str, Any]]:
        return [
            n
            for n in self._nodes(ws, namespace, name)
            if not {"karpenter.sh/nodepool", "karpenter.sh/provisioner-name"}
            & set(n["metadata"].get("labels") or {})
        ]

    def _nodes(self, ws: v1beta1.Workspace, namespace: str, name: str) -> list[dict[str, Any]]:
        return self._caches.nodes_for(
            namespace=namespace,
            name=name,
            selector=common.user_node_labels(ws),
            preferred=tuple(ws.resource.preferred_nodes or ()),
        )

    async def _label_gpu_nodes(self, nodes: Sequence[Mapping[str, Any]]) -> None:
        """AKS labels GPU nodes accelerator=nvidia; add it where a provider did not."""
        for node in nodes:
            name = node["metadata"]["name"]
            labels = node["metadata"].get("labels") or {}
            if labels.get("accelerator") == "nvidia":
                self._labelled.discard(name)
            elif name not in self._labelled:
                self._labelled.add(name)
                await resources.patch(
                    self._api,
                    kinds.NODES,
                    name,
                    {"metadata": {"labels": {"accelerator": "nvidia"}}},
                )

    # -- workloads --------------------------------------------------------------------------------

    async def _apply_workload(
        self, ws: v1beta1.Workspace, obj: dict[str, Any], plan: Plan
    ) -> tuple[status.Blocker, ...]:
        if plan.mode == "tuning":
            return await self._apply_tuning(ws, obj, plan)
        return await self._apply_inference(ws, obj, plan)

    async def _apply_tuning(
        self, ws: v1beta1.Workspace, obj: dict[str, Any], plan: Plan
    ) -> tuple[status.Blocker, ...]:
        assert ws.tuning is not None
        assert plan.preset is not None
        assert plan.instance_type is not None
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        method = ws.tuning.method.lower()
        revision = common.spec_hash(ws)
        job = self._caches.jobs.get(name, namespace)
        current = (
            (job["metadata"].get("annotations") or {}).get(constants.ANNOTATION_REVISION)
            if job
            else None
        )
        if job is not None and current == revision:
            return ()  # the config served to create this Job; a later change to it is not read
        config, config_map_name, problem = await self._tuning_config(ws, obj, plan, method)
        if problem is not None:
            return (problem,)
        if job is not None:
            if not job["metadata"].get("deletionTimestamp"):
                await resources.delete(
                    self._api,
                    kinds.JOBS,
                    name,
                    namespace=namespace,
                    propagation_policy="Foreground",
                )
                await self._events.record(
                    obj,
                    type_=NORMAL,
                    reason="TuningJobReplaced",
                    message=f"the spec changed (revision {revision[:12]}): recreating Job {name}",
                )
            return ()
        output_dir = str(
            ((config.get("training_config") or {}).get("TrainingArguments") or {}).get("output_dir")
            or DEFAULT_OUTPUT_DIR
        )
        try:
            manifest = tuning.tuning_job(
                ws,
                preset=plan.preset,
                instance_type=plan.instance_type,
                config_map_name=config_map_name,
                output_dir=output_dir,
                revision=revision,
                images=self._settings.images,
            )
        except ValueError as exc:
            return (
                status.Blocker(
                    condition=ConditionType.JOB_STARTED,
                    reason="InvalidTuningInput",
                    message=str(exc),
                ),
            )
        await self._create(obj, kinds.JOBS, manifest, reason="TuningJobCreated")
        return ()

    async def _tuning_config(
        self, ws: v1beta1.Workspace, obj: dict[str, Any], plan: Plan, method: str
    ) -> tuple[dict[str, Any], str, status.Blocker | None]:
        assert ws.tuning is not None
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if ws.tuning.config:
            user = await self._user_configmap(ws.tuning.config, namespace)
            if user is None:
                return (
                    {},
                    ws.tuning.config,
                    status.Blocker(
                        condition=ConditionType.JOB_STARTED,
                        reason="TuningConfigNotFound",
                        message=f"ConfigMap {namespace}/{ws.tuning.config} not found",
                        fatal=False,
                    ),
                )
            data = user.get("data") or {}
            invalid = _invalid_tuning_config(user, method=method)
            if invalid is not None:
                return {}, ws.tuning.config, invalid
            parsed = yaml.safe_load(data.get(preset_catalog.TUNING_CONFIG_KEY, "")) or {}
            return parsed, ws.tuning.config, None
        config = preset_catalog.default_tuning_config(
            preset_catalog.TuningMethod(method),
            preset=plan.preset,
            instance_type=plan.instance_type,
        )
        config_map_name = f"{name}-{method}-params"
        if self._caches.configmaps.get(config_map_name, namespace) is None:
            manifest = tuning.tuning_configmap(ws, name=config_map_name, config=config)
            await self._create(obj, kinds.CONFIGMAPS, manifest, reason="TuningConfigCreated")
        return config, config_map_name, None

    async def _apply_inference(
        self, ws: v1beta1.Workspace, obj: dict[str, Any], plan: Plan
    ) -> tuple[status.Blocker, ...]:
        assert plan.instance_type is not None
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        runtime = (ws.metadata.annotations or {}).get(constants.ANNOTATION_RUNTIME) or (
            str(plan.preset.default_runtime) if plan.preset else "transformers"
        )
        revision = common.spec_hash(ws)
        try:
            manifest = inference.inference_workload(
                ws,
                preset=plan.preset,
                instance_type=plan.instance_type,
                replicas=plan.target_node_count,
                revision=revision,
                images=self._settings.images,
                runtime=runtime,
            )
        except ValueError as exc:
            return (
                status.Blocker(
                    condition=ConditionType.INFERENCE_READY,
                    reason="InvalidInferenceSpec",
                    message=str(exc),
                ),
            )
        multi_node = manifest["kind"] == "StatefulSet"
        if self._caches.services.get(name, namespace) is None:
            service = inference.service(ws, leader_only=multi_node)
            await self._create(obj, kinds.SERVICES, service, reason="ServiceCreated")
        headless = inference.headless_service_name(ws)
        if multi_node and self._caches.services.get(headless, namespace) is None:
            await self._create(
                obj, kinds.SERVICES, inference.headless_service(ws), reason="ServiceCreated"
            )
        resource, cache = (
            (kinds.STATEFULSETS, self._caches.statefulsets)
            if multi_node
            else (kinds.DEPLOYMENTS, self._caches.deployments)
        )
        current = cache.get(name, namespace)
        if current is None:
            await self._create(obj, resource, manifest, reason="WorkloadCreated")
            return ()
        annotations = current["metadata"].get("annotations") or {}
        if annotations.get(constants.ANNOTATION_REVISION) != revision:
            if self._being_deleted(obj):
                return ()
            manifest["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            path = resource.path(namespace=namespace, name=name)
            try:
                await resources.call(self._api, "PUT", path, body=manifest)
            except ApiException as exc:
                if exc.status == 409:
                    raise  # a stale cache: retried with backoff
                blocker = status.Blocker(
                    condition=ConditionType.INFERENCE_READY,
                    reason="WorkloadUpdateFailed",
                    message=f"updating {manifest['kind']} {name} failed: {error_message(exc)}",
                    fatal=False,
                )
                raise _WriteFailed(blocker, exc) from exc
            await self._events.record(
                obj,
                type_=NORMAL,
                reason="WorkloadUpdated",
                message=f"rolled {manifest['kind']} {name} to revision {revision[:12]}",
            )
        return ()

    async def _create(
        self,
        obj: dict[str, Any],
        resource: kinds.Resource,
        manifest: dict[str, Any],
        *,
        reason: str,
    ) -> None:
        if self._being_deleted(obj):
            return
        try:
            await resources.create(self._api, resource, manifest)
        except ApiException as exc:
            if exc.status == 409:
                return  # created by an earlier pass; the cache will show it
            blocker = status.Blocker(
                condition=self._workload_condition(obj),
                reason=reason.replace("Created", "CreationFailed"),
                message=f"creating {manifest['kind']} {manifest['metadata']['name']} failed: "
                f"{error_message(exc)}",
                fatal=False,
            )
            raise _WriteFailed(blocker, exc) from exc
        await self._events.record(
            obj,
            type_=NORMAL,
            reason=reason,
            message=f"created {manifest['kind']} {manifest['metadata']['name']}",
        )

    # -- status -----------------------------------------------------------------------------------

    def _observe(
        self,
        ws: v1beta1.Workspace,
        obj: dict[str, Any],
        plan: Plan,
        *,
        extra_blockers: tuple[status.Blocker, ...] = (),
    ) -> status.Observation:
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        workload = self._caches.deployments.get(name, namespace) or self._caches.statefulsets.get(
            name, namespace
        )
        return status.Observation(
            generation=int(obj["metadata"].get("generation") or 0),
            mode=plan.mode,
            claim_api=self._claim_api if ws.resource.instance_type else None,
            instance_type=ws.resource.instance_type,
            target_node_count=plan.target_node_count,
            claims=self._caches.claims_of(namespace, name),
            nodes=self._nodes(ws, namespace, name),
            job=self._caches.jobs.get(name, namespace) if plan.mode == "tuning" else None,
            workload=workload if plan.mode == "inference" else None,
            pods=self._caches.pods_of(namespace, name),
            deleting=bool(obj["metadata"].get("deletionTimestamp")),
            blockers=(*plan.blockers, *extra_blockers),
            previous=obj.get("status") or {},
        )

    async def _write_status(
        self, obj: dict[str, Any], observation: status.Observation
    ) -> dict[str, Any]:
        """Write the status if it changed; a failure it newly reports becomes a Warning Event.

        The Events follow the written status, so a failure is announced once (when its
        condition turns), not on every pass, and not at all if the write lost a conflict.
        """
        previous = obj.get("status") or {}
        new_status = status.compute(observation, now=self._clock.now())
        if new_status != previous:
            body = {**obj, "status": new_status}
            await resources.replace_status(self._api, kinds.WORKSPACES, body)
            for reason, message in status.new_failures(previous, new_status):
                _log.warning("workspace blocked", reason=reason, error=message)
                await self._events.record(obj, type_=WARNING, reason=reason, message=message)
        return new_status

    def _being_deleted(self, obj: Mapping[str, Any]) -> bool:
        """Whether the cache (fresher than ``obj`` after any await) shows the Workspace going."""
        meta = obj["metadata"]
        current = self._caches.workspaces.get(meta["name"], meta.get("namespace"))
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return True
        return bool(current["metadata"].get("deletionTimestamp"))

    @staticmethod
    def _workload_condition(obj: Mapping[str, Any]) -> ConditionType:
        return ConditionType.JOB_STARTED if obj.get("tuning") else ConditionType.INFERENCE_READY

    # -- finalizer --------------------------------------------------------------------------------

    async def _add_finalizer(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        finalizers = [*(meta.get("finalizers") or []), constants.FINALIZER]
        await resources.patch(
            self._api,
            kinds.WORKSPACES,
            meta["name"],
            {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}},
            namespace=meta["namespace"],
        )

    async def _finalize(self, request: Request, obj: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        if constants.FINALIZER not in (meta.get("finalizers") or []):
            return DONE
        claims = self._caches.claims_of(request.namespace, request.name)
        if not any(
            c.get("type") == ConditionType.WORKSPACE_DELETING
            for c in (obj.get("status") or {}).get("conditions") or []
        ):
            previous = obj.get("status") or {}
            deleting = status.Observation(
                generation=int(meta.get("generation") or 0),
                mode="tuning" if obj.get("tuning") else "inference",
                claim_api=None,
                instance_type=None,
                target_node_count=int(previous.get("targetNodeCount") or 0),
                deleting=True,
                previous=previous,
            )
            await self._write_deleting(obj, deleting)
        deleted: list[str] = []
        for claim in claims:
            if claim["metadata"].get("deletionTimestamp"):
                continue
            assert self._claim_api is not None
            try:
                await resources.delete(
                    self._api, kinds.CLAIMS[self._claim_api], claim["metadata"]["name"]
                )
            except ApiException as exc:
                if exc.status != 404:
                    _log.warning("deleting claim failed", error=error_message(exc))
                    raise
            deleted.append(claim["metadata"]["name"])
        if deleted:  # one Event per pass, however many claims a large Workspace had
            kind = claims[0]["kind"]
            await self._events.record(
                obj,
                type_=NORMAL,
                reason=f"{kind}Deleted",
                message=f"deleting {len(deleted)} {kind}(s): {', '.join(sorted(deleted))}",
            )
        if claims:
            return Result(requeue_after=self._settings.provisioning.node_ready_poll_seconds)
        remaining = [f for f in meta.get("finalizers") or [] if f != constants.FINALIZER]
        await resources.patch(
            self._api,
            kinds.WORKSPACES,
            meta["name"],
            {"metadata": {"finalizers": remaining, "resourceVersion": meta["resourceVersion"]}},
            namespace=meta["namespace"],
        )
        self._expected.pop(request, None)
        return DONE

    async def _write_deleting(self, obj: dict[str, Any], observation: status.Observation) -> None:
        previous = dict(observation.previous)
        updated = conditions.set_condition(
            previous.get("conditions"),
            type_=ConditionType.WORKSPACE_DELETING,
            status="True",
            reason="Deleting",
            message="workspace is being deleted",
            now=self._clock.now(),
            observed_generation=observation.generation,
        )
        body = {**obj, "status": {**previous, "conditions": updated}}
        await resources.replace_status(self._api, kinds.WORKSPACES, body)


def _invalid_tuning_config(configmap: Mapping[str, Any], *, method: str) -> status.Blocker | None:
    """A (fixable, so not terminal) blocker when a user's tuning ConfigMap is invalid."""
    violations = preset_catalog.validate_tuning_configmap_data(
        configmap.get("data") or {}, method=method
    )
    if not violations:
        return None
    name = (configmap.get("metadata") or {}).get("name")
    return status.Blocker(
        condition=ConditionType.JOB_STARTED,
        reason="InvalidTuningConfig",
        message=f"ConfigMap {name}: " + "; ".join(str(v) for v in violations),
        fatal=False,
    )


def _spelling(requested: str, found: preset_catalog.InstanceType | None) -> str:
    """The catalog's spelling of the instance type the Workspace names in any case (claims carry
    it: Karpenter providers match instance type names exactly), or the name as written."""
    if found is not None:
        for candidate in (found.name, *found.aliases):
            if candidate.casefold() == requested.casefold():
                return candidate
    return requested
