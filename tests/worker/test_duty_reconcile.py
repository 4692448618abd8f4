"""The reconciler: an announced incident whose job vanished is enqueued again, once; a lost
resolution notice likewise; dead letters are reported once each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis

from core.models import IncidentState
from core.queue import QUEUE_NAME
from core.settings import Settings
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import make_rig, open_incident

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]
QUIET = '[scheduler]\nchecklist = ""\n'


async def lose_job(redis: ArqRedis, job_id: str) -> None:
    """What an expired job key (or a crash before enqueueing) leaves: no trace of the job."""
    await redis.delete(f"arq:job:{job_id}", f"arq:result:{job_id}", f"arq:in-progress:{job_id}")
    await redis.zrem(QUEUE_NAME, job_id)


async def test_an_announced_incident_whose_job_vanished_is_handled_once(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Its `incident:{id}:open` job, result and in-progress keys are gone and it was never
    notified: the reconciler enqueues the job again, once, and the incident is posted once."""
    rig = await make_rig(real_redis, make_recorder, make_settings, QUIET)
    await open_incident(rig.store)
    await lose_job(real_redis, "incident:1:open")
    now = datetime.now(UTC)
    await rig.round(now + timedelta(seconds=10))  # too fresh to call lost
    assert await real_redis.zcard(QUEUE_NAME) == 0
    await rig.round(now + timedelta(minutes=2))
    await rig.round(now + timedelta(minutes=4))
    assert await real_redis.zcard(QUEUE_NAME) == 1
    await rig.drain()
    await rig.round(now + timedelta(minutes=6))
    await rig.drain()
    assert rig.texts() == ["[P0] api_down on api: ApiDown on api"]
    events = [e.event for e in await rig.store.timeline("1")]
    assert events.count("job.reenqueued") == 1


async def test_a_queued_or_finished_job_is_left_alone(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """A job still waiting in the queue, or one that ran and posted, is not enqueued again."""
    rig = await make_rig(real_redis, make_recorder, make_settings, QUIET)
    await open_incident(rig.store)
    now = datetime.now(UTC)
    await rig.round(now + timedelta(minutes=2))
    assert await real_redis.zcard(QUEUE_NAME) == 1
    await rig.drain()
    await lose_job(real_redis, "incident:1:open")  # its kept result expired too
    await rig.round(now + timedelta(minutes=4))
    assert await real_redis.zcard(QUEUE_NAME) == 0
    events = [e.event for e in await rig.store.timeline("1")]
    assert "job.reenqueued" not in events


async def test_a_lost_resolution_notice_is_posted_once(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """A notified incident resolved, its resolve_incident job lost: re-enqueued, posted once."""
    rig = await make_rig(real_redis, make_recorder, make_settings, QUIET)
    await open_incident(rig.store)
    await rig.drain()
    await rig.store.transition("1", IncidentState.RESOLVED, "ana")
    await lose_job(real_redis, "incident:1:resolved:0")
    now = datetime.now(UTC)
    for minutes in (2, 4):
        await rig.round(now + timedelta(minutes=minutes))
        await rig.drain()
    assert len(rig.matching("Resolved:")) == 1


async def test_dead_letters_are_reported_once_each(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Each dead letter is posted once with its function, tries and last error."""
    rig = await make_rig(real_redis, make_recorder, make_settings, QUIET)
    await rig.store.dead_letter("incident:9:open", "handle_incident", ["9"], 3, "boom")
    now = datetime.now(UTC)
    for minutes in (1, 2, 3):
        await rig.round(now + timedelta(minutes=minutes))
        await rig.drain()
    assert rig.texts() == ["Dead letter: incident:9:open"]
    blocks = str(rig.slack.json_bodies()[0]["blocks"])
    assert "handle_incident(9), 3 tries" in blocks and "last error: boom" in blocks


async def test_a_dead_lettered_incident_is_left_to_the_operator(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """An incident whose job was dead-lettered (even if the letter was re-driven since) is not
    enqueued again by the reconciler: the operator decides."""
    rig = await make_rig(real_redis, make_recorder, make_settings, QUIET)
    await open_incident(rig.store)
    await lose_job(real_redis, "incident:1:open")
    await rig.store.record("1", "plantao", "job.dead_lettered", "incident:1:open: boom")
    await rig.round(datetime.now(UTC) + timedelta(minutes=2))
    assert await real_redis.zcard(QUEUE_NAME) == 0
