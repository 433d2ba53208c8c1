"""/readyz of a leader-elected process: a standby is ready; a leader once its caches synced."""

from __future__ import annotations

import asyncio

from controller_kit import StandbyReadiness


async def test_a_standby_is_ready_and_a_leader_only_once_its_caches_synced() -> None:
    synced = asyncio.Event()
    readiness = StandbyReadiness(synced.is_set)
    release = asyncio.Event()
    observed: list[bool] = []

    async def work() -> None:
        observed.append(readiness())  # leading, caches not synced yet
        synced.set()
        observed.append(readiness())
        await release.wait()

    assert readiness()  # standby: waiting for the Lease
    task = asyncio.create_task(readiness.leading(work)())
    await asyncio.sleep(0)
    release.set()
    await task
    assert observed == [False, True]
