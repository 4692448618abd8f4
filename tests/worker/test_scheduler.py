"""The scheduler lease: one leader at a time, a successor when it dies, fencing the old one."""

from __future__ import annotations

import asyncio

from arq.connections import ArqRedis

from core.store import Store
from worker.scheduler import Scheduler

LEASE_MS = 300


def pair(redis: ArqRedis) -> tuple[Scheduler, Scheduler]:
    store = Store(redis)
    return (
        Scheduler(redis, store, "a", lease_ms=LEASE_MS),
        Scheduler(redis, store, "b", lease_ms=LEASE_MS),
    )


async def test_only_one_of_two_schedulers_leads(real_redis: ArqRedis) -> None:
    """Two instances ticking together: exactly one is leader, and it stays leader."""
    a, b = pair(real_redis)
    for _ in range(5):
        assert [await a.tick(), await b.tick()] == [True, False]
    assert (await a.leader() or "").startswith("a:")


async def test_a_successor_takes_over_when_the_leader_stops(real_redis: ArqRedis) -> None:
    """When the leader stops renewing, another instance leads within one lease, with a new epoch."""
    a, b = pair(real_redis)
    assert await a.tick()
    first_epoch = a.epoch
    assert not await b.tick()
    await asyncio.sleep(LEASE_MS / 1000 + 0.1)  # a is dead: no renewal
    assert await b.tick()
    assert b.epoch is not None and first_epoch is not None and b.epoch > first_epoch


async def test_a_stale_leader_cannot_renew_a_lease_it_lost(real_redis: ArqRedis) -> None:
    """A paused ex-leader that wakes up finds it is no longer leader (fencing by epoch)."""
    a, b = pair(real_redis)
    assert await a.tick()
    await asyncio.sleep(LEASE_MS / 1000 + 0.1)
    assert await b.tick()
    assert not await a.tick()
    assert a.epoch is None
    assert (await b.leader() or "").startswith("b:")


async def test_the_leader_beats_for_health_deep(embedded_redis: ArqRedis) -> None:
    """A running scheduler leads and records a heartbeat that /health/deep reports."""
    store = Store(embedded_redis)
    scheduler = Scheduler(embedded_redis, store, "solo", lease_ms=LEASE_MS)
    task = asyncio.create_task(scheduler.run())
    try:
        for _ in range(50):
            if await store.heartbeat_age_s("scheduler") is not None:
                break
            await asyncio.sleep(0.02)
        age = await store.heartbeat_age_s("scheduler")
        assert age is not None and age < 5
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=5)
