"""``push``: the tuning Job's sidecar that ships the adapter as an OCI image.

It waits for the trainer's completion marker in ``$OUTPUT_DIR``, then pushes the adapter files as
Kaito's one-layer image to ``$IMAGE`` (see :mod:`model_runtime.oci`), retrying transient failures
with exponential backoff. It runs unprivileged: it reads the output directory and the docker
config, and needs no daemon.

The pod shares its process namespace, so the sidecar can see the trainer: once a process whose
command line contains ``$TRAINER_MATCH`` has been seen and is gone without the marker, the
training failed and ``push`` exits 1, failing the pod instead of waiting forever. A trainer that
is never seen (it finished before the sidecar looked) is fine: the marker decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import TYPE_CHECKING, Final

import aiohttp

from model_runtime import contract, oci
from model_runtime import logs as jsonlog

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["ADAPTER_FILES", "main", "push_adapter", "trainer_running", "wait_for_marker"]

ADAPTER_FILES: Final = ("adapter_config.json", "adapter_model.safetensors")

_log = logging.getLogger("model_runtime.push")


class TrainerFailedError(RuntimeError):
    """The trainer exited without writing the completion marker."""


def trainer_running(match: str, proc: str = "/proc") -> bool:
    """Whether any process's command line (arguments joined by spaces) contains ``match``."""
    own = os.getpid()
    try:
        entries = os.listdir(proc)
    except OSError:
        return False
    for entry in entries:
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match in command:
            return True
    return False


def wait_for_marker(
    marker: str,
    *,
    trainer_alive: Callable[[], bool],
    poll_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once ``marker`` exists; raise when the trainer was seen and is gone without it."""
    seen = False
    while not os.path.isfile(marker):
        if trainer_alive():
            seen = True
        elif seen and not os.path.isfile(marker):
            raise TrainerFailedError(
                f"the trainer exited without writing {os.path.basename(marker)}: nothing to push"
            )
        sleep(poll_seconds)


def read_adapter(output_dir: str, names: Iterable[str] = ADAPTER_FILES) -> dict[str, bytes]:
    """The adapter files' content; a missing file is an error naming it."""
    files: dict[str, bytes] = {}
    for name in names:
        path = os.path.join(output_dir, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing")
        with open(path, "rb") as handle:
            files[name] = handle.read()
    return files


async def push_adapter(
    image: oci.Image,
    reference: oci.ImageReference,
    *,
    docker_config: Mapping[str, object],
    attempts: int,
    retry_delay_seconds: float,
    plain_http: bool | None = None,
) -> str:
    """Push ``image``, retrying with doubling delays; the manifest digest."""
    credentials = oci.credentials_for(docker_config, reference.registry)
    delay = retry_delay_seconds
    for attempt in range(1, attempts + 1):
        try:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                client = oci.RegistryClient(
                    session, reference, credentials=credentials, plain_http=plain_http
                )
                return await client.push(image)
        except (oci.PushError, aiohttp.ClientError, TimeoutError) as error:
            permanent = isinstance(error, oci.PushError) and error.permanent
            jsonlog.event(
                _log,
                "push_failed",
                attempt=attempt,
                attempts=attempts,
                image=str(reference),
                error=str(error) or type(error).__name__,
                permanent=permanent,
            )
            if permanent or attempt == attempts:
                raise
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def main(env: Mapping[str, str]) -> int:
    """The ``push`` entrypoint: 0 once the image is pushed, 1 on any failure."""
    output_dir = contract.env_str(env, "OUTPUT_DIR", contract.DEFAULT_OUTPUT_DIR)
    marker = os.path.join(output_dir, contract.env_str(env, "MARKER", contract.COMPLETION_MARKER))
    image_name = env.get("IMAGE", "").strip()
    if not image_name:
        jsonlog.fatal(
            _log,
            "push_misconfigured",
            error="IMAGE is not set",
            fix="set IMAGE to the adapter image (the Workspace's tuning.output.image)",
        )
        return 1
    try:
        reference = oci.parse_reference(image_name)
        match = contract.env_str(env, "TRAINER_MATCH", "model_runtime tune")
        jsonlog.event(_log, "waiting_for_adapter", marker=marker, image=str(reference))
        wait_for_marker(
            marker,
            trainer_alive=lambda: trainer_running(match),
            poll_seconds=contract.env_float(env, "POLL_SECONDS", 10.0),
        )
        files = read_adapter(output_dir)
        image = oci.adapter_image(files, model_name=env.get("PRESET_NAME", ""))
        docker_config = oci.read_docker_config(
            contract.env_str(env, "DOCKER_CONFIG", os.path.expanduser("~/.docker"))
        )
        plain = env.get("PLAIN_HTTP", "").strip().lower()
        digest = asyncio.run(
            push_adapter(
                image,
                reference,
                docker_config=docker_config,
                attempts=max(1, contract.env_int(env, "ATTEMPTS", 3)),
                retry_delay_seconds=contract.env_float(env, "RETRY_DELAY_SECONDS", 2.0),
                plain_http=True if plain in ("1", "true", "yes") else None,
            )
        )
    except (TrainerFailedError, FileNotFoundError, ValueError, json.JSONDecodeError) as error:
        jsonlog.fatal(
            _log,
            "push_aborted",
            error=str(error),
            fix="if the trainer ended without an adapter, read the tuning container's log; "
            "otherwise correct IMAGE or the push secret's Docker config",
        )
        return 1
    except (oci.PushError, aiohttp.ClientError, TimeoutError) as error:
        jsonlog.fatal(
            _log,
            "push_gave_up",
            error=str(error) or type(error).__name__,
            fix="check that the registry in IMAGE is reachable and that the Workspace's "
            "tuning.output.imagePushSecret may push to it",
        )
        return 1
    jsonlog.event(_log, "adapter_pushed", image=str(reference), digest=digest)
    return 0
