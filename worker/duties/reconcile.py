"""The reconciler: jobs that should exist but do not are enqueued again, and dead letters are
reported once each. A job goes missing when its key expires unrun (ARQ drops a job not started
within a day), when Redis loses recent writes, or when a writer crashes before enqueueing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from arq.connections import ArqRedis

from core.models import Incident, IncidentState
from core.queue import IN_PROGRESS_KEY_PREFIX, JOB_KEY_PREFIX, RESULT_KEY_PREFIX, enqueue
from core.store import P, Store, redis_errors
from core.timers import Timer
from worker.deps import Deps
from worker.duties.context import Duty, DutyContext
from worker.slack import render_notice

JOB = "report_dead_letter"
GRACE = timedelta(seconds=60)  # an incident this fresh may still be on its way through the queue
RESOLVED_HORIZON = timedelta(hours=24)  # resolution notices looked after this long
DEAD_LETTER_HORIZON = timedelta(days=7)  # dead letters reported when found within this
RECENT = 200


async def _job_exists(redis: ArqRedis, job_id: str) -> bool:
    keys = (JOB_KEY_PREFIX + job_id, RESULT_KEY_PREFIX + job_id, IN_PROGRESS_KEY_PREFIX + job_id)
    async with redis_errors():
        return bool(await redis.exists(*keys))


async def _lost(store: Store, incident_id: str, job_id: str, dead: set[str]) -> bool:
    """Gone without a trace: not queued, running, finished or dead-lettered (a dead letter, or
    one an operator re-drove under another id, is the operator's to handle)."""
    if job_id in dead or await _job_exists(store.redis, job_id):
        return False
    return not any(e.event == "job.dead_lettered" for e in await store.timeline(incident_id))


async def _missing_job(store: Store, incident: Incident, dead: set[str]) -> tuple[str, str, str]:
    """(function, argument, job id) of the job this incident lacks, or ('', '', '')."""
    none = ("", "", "")
    if incident.silenced_by or incident.reopened:
        return none  # silenced: never announced; reopened: its notices follow other rules
    opened = await store.was_notified(incident.id, "opened")
    if incident.state is not IncidentState.RESOLVED:
        if opened or await store.was_notified(incident.id, "failed"):
            return none
        found = ("handle_incident", "", f"incident:{incident.id}:open")
    elif opened and not await store.was_notified(incident.id, "resolved"):
        found = ("resolve_incident", "0", f"incident:{incident.id}:resolved:0")
    else:
        return none
    return found if await _lost(store, incident.id, found[2], dead) else none


async def requeue_lost_jobs(ctx: DutyContext, now: datetime) -> int:
    dead = set(await ctx.store.dead_letters())
    ids = {*await ctx.store.open_incident_ids(), *await ctx.store.incident_ids(RECENT)}
    added = 0
    for incident in await ctx.store.incidents(sorted(ids, key=int)):
        if now - incident.last_seen < GRACE:
            continue
        if incident.resolved_at and now - incident.resolved_at > RESOLVED_HORIZON:
            continue
        function, extra, job_id = await _missing_job(ctx.store, incident, dead)
        if not function:
            continue
        args = (incident.id, extra) if extra else (incident.id,)
        if await enqueue(ctx.redis, function, *args, job_id=job_id):
            detail = f"{function} as {job_id}: its job was lost"
            await ctx.store.record(incident.id, "scheduler", "job.reenqueued", detail)
            added += 1
    return added


async def report_dead_letters(ctx: DutyContext, now: datetime) -> int:
    since = int((now - DEAD_LETTER_HORIZON).timestamp() * 1000)
    async with redis_errors():
        found = await ctx.redis.zrangebyscore(f"{P}deadletters", since, "+inf")
    added = 0
    for raw in found:
        job_id = raw.decode()
        timer = Timer(f"deadletter:{job_id}", JOB, now, (job_id,))
        added += await ctx.timers.schedule(timer)
    return added


async def plan(ctx: DutyContext, now: datetime) -> int:
    return await requeue_lost_jobs(ctx, now) + await report_dead_letters(ctx, now)


async def fire(deps: Deps, timer: Timer) -> str:
    """Post one dead letter: which job, how often it was tried, and its last error."""
    job_id = timer.args[0]
    async with redis_errors():
        raw = await deps.store.redis.hgetall(f"{P}deadletter:{job_id}")  # type: ignore[misc]
    data = {k.decode(): v.decode() for k, v in raw.items()}
    if not data:
        return "skipped: the dead letter is gone"
    args = ", ".join(json.loads(data.get("args", "[]")))
    lines = [
        f"job {job_id}: {data.get('function', '?')}({args}), {data.get('tries')} tries",
        f"last error: {data.get('error', '?')}",
        "nothing retries it now: look at it, then replay or resolve by hand",
    ]
    await deps.slack.post(render_notice(f"Dead letter: {job_id}", [("Dead letter", lines)]))
    return "posted"


DUTY = Duty("reconcile", plan, timedelta(seconds=60))
