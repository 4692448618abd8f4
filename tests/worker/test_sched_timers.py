"""Redis timers (core/timers.py): deterministic ids, fire once, late after downtime, fencing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis

from core.queue import QUEUE_NAME
from core.timers import LEASE_KEY, Timer, Timers

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def timer(name: str = "reminder:x", due: datetime = T0) -> Timer:
    return Timer(name, "post_reminder", due, ("x",))


async def test_a_timer_fires_once_at_its_due_time_and_enqueues_its_job(
    any_redis: ArqRedis,
) -> None:
    """Not before it is due; at the due time once, as job `timer:{id}` given its id; never again."""
    timers = Timers(any_redis)
    assert await timers.schedule(timer())
    assert await timers.fire_due(T0 - timedelta(seconds=1)) == []
    assert await timers.fire_due(T0) == ["reminder:x"]
    assert await timers.fire_due(T0 + timedelta(hours=1)) == []
    job = json.loads(await any_redis.get("arq:job:timer:reminder:x"))
    assert job["f"] == "post_reminder" and job["a"] == ["reminder:x"]
    assert await any_redis.zscore(QUEUE_NAME, "timer:reminder:x") is not None
    fired = await timers.get("reminder:x")
    assert fired is not None and fired.fired_at == T0 and not fired.late and fired.args == ("x",)


async def test_scheduling_an_id_again_is_a_no_op_before_and_after_it_fired(
    real_redis: ArqRedis,
) -> None:
    """A deterministic id is taken once: planning it again, by any scheduler, adds nothing."""
    timers = Timers(real_redis)
    assert await timers.schedule(timer())
    assert not await timers.schedule(timer(due=T0 + timedelta(days=1)))
    assert await timers.fire_due(T0) == ["reminder:x"]
    assert not await timers.schedule(timer(due=T0 + timedelta(days=2)))
    assert await timers.fire_due(T0 + timedelta(days=3)) == []
    assert await timers.pending() == []


async def test_a_timer_due_while_everything_was_down_fires_once_marked_late(
    real_redis: ArqRedis,
) -> None:
    """Fired three hours after its due time it says so; one fired within a minute does not."""
    timers = Timers(real_redis)
    await timers.schedule(timer("late"))
    await timers.schedule(timer("on-time", due=T0 + timedelta(hours=3)))
    now = T0 + timedelta(hours=3, seconds=20)
    assert sorted(await timers.fire_due(now)) == ["late", "on-time"]
    late, on_time = await timers.get("late"), await timers.get("on-time")
    assert late is not None and late.late and "180 min ago" in late.late_note()
    assert on_time is not None and not on_time.late and on_time.late_note() == ""
    assert await timers.fire_due(now + timedelta(hours=1)) == []


async def test_a_fenced_fire_needs_the_current_lease(real_redis: ArqRedis) -> None:
    """A scheduler that lost its lease fires nothing; the lease holder fires it."""
    timers = Timers(real_redis)
    await timers.schedule(timer())
    await real_redis.set(LEASE_KEY, "b:2")
    assert await timers.fire_due(T0, fence="a:1") == []
    assert await timers.fire_due(T0, fence="b:2") == ["reminder:x"]


async def test_racing_schedulers_fire_each_timer_exactly_once(real_redis: ArqRedis) -> None:
    """Fifty timers, two clients firing at once, repeatedly: each fires once, by one of them."""
    first, second = Timers(real_redis), Timers(real_redis)
    for n in range(50):
        await first.schedule(timer(f"t{n}", T0 + timedelta(seconds=n)))
    fired: list[str] = []
    for step in range(0, 60, 5):
        now = T0 + timedelta(seconds=step)
        for batch in await asyncio.gather(first.fire_due(now), second.fire_due(now)):
            fired += batch
    assert sorted(fired) == sorted(f"t{n}" for n in range(50))
    assert await real_redis.zcard(QUEUE_NAME) == 50


async def test_a_cancelled_timer_never_fires(real_redis: ArqRedis) -> None:
    """Cancelling takes a pending timer back; a fired one cannot be cancelled."""
    timers = Timers(real_redis)
    await timers.schedule(timer("a"))
    await timers.schedule(timer("b"))
    assert await timers.cancel("a")
    assert await timers.fire_due(T0) == ["b"]
    assert not await timers.cancel("b")
    cancelled = await timers.get("a")
    assert cancelled is not None and cancelled.cancelled and cancelled.fired_at is None
