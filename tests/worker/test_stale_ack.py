"""A stale acknowledgement (no activity for stale_ack_s) re-notifies once, through the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis

from core.models import IncidentState
from core.store import Store
from tests.conftest import fixture_bytes
from tests.worker.conftest import MakePipeline
from worker.scheduler import Scheduler

FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")


async def test_a_quiet_acknowledgement_is_renotified_exactly_once(
    make_pipeline: MakePipeline, real_redis: ArqRedis
) -> None:
    """Past the stale time the sweep queues one notice; later sweeps queue nothing more."""
    p = await make_pipeline(real_redis)
    await p.post(FIRING)
    await p.drain()
    store = Store(real_redis)
    await store.transition("1", IncidentState.ACKNOWLEDGED, "ana")
    scheduler = Scheduler(real_redis, store, "s", stale_ack_s=600)
    now = datetime.now(UTC)
    assert await scheduler.sweep_stale_acks(now + timedelta(minutes=5)) == []
    assert await scheduler.sweep_stale_acks(now + timedelta(minutes=11)) == ["1"]
    assert await scheduler.sweep_stale_acks(now + timedelta(minutes=30)) == []
    await p.drain()
    texts = p.texts()
    assert len(texts) == 2
    assert "is anyone on it?" in texts[1]
    assert "acknowledged by ana" in str(p.slack.json_bodies()[1]["blocks"])


async def test_resolved_and_unacknowledged_incidents_are_left_alone(
    make_pipeline: MakePipeline, real_redis: ArqRedis
) -> None:
    """Only acknowledged, still-open incidents can go stale."""
    p = await make_pipeline(real_redis)
    await p.post(FIRING)
    store = Store(real_redis)
    scheduler = Scheduler(real_redis, store, "s", stale_ack_s=1)
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await scheduler.sweep_stale_acks(later) == []
    await store.transition("1", IncidentState.RESOLVED, "ana")
    assert await scheduler.sweep_stale_acks(later) == []
