"""Replays and dead letters as the operator API and CLI see them: which incident a job was about,
queueing a replay / preview / re-drive under a new job id, and the dead-letter records.

The work itself (running a handler) is the worker's: worker/replay.py holds the job functions
named here. Job ids: `replay:{job}:{ms}`, `preview:{job}:{ms}`, `redrive:{job}:{ms}`.
"""

from __future__ import annotations

import json
import re

from arq.connections import ArqRedis
from pydantic import BaseModel, ConfigDict

from core.errors import InvalidTransition, UnknownIncident
from core.queue import JobInfo, enqueue, job_info
from core.store import P, Store, now_ms, redis_errors

PREVIEW_JOB, REPLAY_JOB = "preview_replay", "replay_incident"
_INCIDENT_JOB = re.compile(r"^incident:([^:]+):")  # core/ingest.lua's job ids


class DeadLetter(BaseModel):
    """A job that exhausted its tries, kept with its last error until re-driven."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    function: str
    args: list[str]
    tries: int
    error: str
    at_ms: int
    redriven_as: str = ""  # the new job id, once re-driven
    redriven_by: str = ""


async def dead_letter(redis: ArqRedis, job_id: str) -> DeadLetter | None:
    async with redis_errors():
        raw = await redis.hgetall(f"{P}deadletter:{job_id}")  # type: ignore[misc]
    if not raw:
        return None
    d = {k.decode(): v.decode() for k, v in raw.items()}
    return DeadLetter(
        job_id=d.get("job_id", job_id),
        function=d.get("function", ""),
        args=[str(a) for a in json.loads(d.get("args", "[]"))],
        tries=int(d.get("tries", 0)),
        error=d.get("error", ""),
        at_ms=int(d.get("at", 0)),
        redriven_as=d.get("redriven_as", ""),
        redriven_by=d.get("redriven_by", ""),
    )


async def dead_letters(redis: ArqRedis, store: Store) -> list[DeadLetter]:
    """The dead letters waiting for a re-drive, oldest first."""
    found = [await dead_letter(redis, job_id) for job_id in await store.dead_letters()]
    return [d for d in found if d is not None]


async def redrive(redis: ArqRedis, store: Store, job_id: str, by: str) -> str:
    """Queue a dead letter's job again (same function and arguments, new id); its new job id.

    Taking it off the dead-letter list is the claim: two operators re-driving at once queue it
    once; the other is told it was re-driven already.
    """
    letter = await dead_letter(redis, job_id)
    if letter is None:
        raise UnknownIncident(f"no dead letter {job_id}")
    async with redis_errors():
        claimed = await redis.zrem(f"{P}deadletters", job_id)
    if not claimed:
        raise InvalidTransition(
            f"dead letter {job_id} was re-driven already ({letter.redriven_as})"
        )
    new_id = f"redrive:{job_id}:{now_ms()}"
    async with redis_errors():
        await enqueue(redis, letter.function, *letter.args, job_id=new_id)
        mapping = {"redriven_as": new_id, "redriven_by": by}
        await redis.hset(f"{P}deadletter:{job_id}", mapping=mapping)  # type: ignore[misc]
    incident_id = letter.args[0] if letter.args else ""
    if incident_id and await store.incident(incident_id) is not None:
        await store.record(incident_id, by, "deadletter.redriven", f"{job_id} as {new_id}")
    return new_id


async def incident_of(redis: ArqRedis, store: Store, job_id: str) -> tuple[str, JobInfo]:
    """The incident a job was about (its first argument, else its id) and what ARQ knows of it."""
    info = await job_info(redis, job_id)
    candidates: list[str] = [str(info.args[0])] if info.args else []
    letter = await dead_letter(redis, job_id)
    if letter is not None and letter.args:
        candidates.append(letter.args[0])
    if (m := _INCIDENT_JOB.match(job_id)) is not None:
        candidates.append(m.group(1))
    for candidate in candidates:
        if await store.incident(candidate) is not None:
            return candidate, info
    if info.status == "unknown" and letter is None:
        raise UnknownIncident(f"no job {job_id} (results are kept for an hour)")
    raise UnknownIncident(f"job {job_id} is not about a stored incident")


async def queue_replay(redis: ArqRedis, store: Store, job_id: str, by: str, *, plan: bool) -> str:
    """Queue a replay (or, with `plan`, a dry-run preview) of a job; the new job id."""
    incident_id, _ = await incident_of(redis, store, job_id)
    function, kind = (PREVIEW_JOB, "preview") if plan else (REPLAY_JOB, "replay")
    new_id = f"{kind}:{job_id}:{now_ms()}"
    async with redis_errors():
        await enqueue(redis, function, incident_id, by, job_id, job_id=new_id)
    event = "replay.previewed" if plan else "replay.requested"
    await store.record(incident_id, by, event, f"job {job_id} as {new_id}")
    return new_id


class PlannedStep(BaseModel):
    """A step the handler proposes now, and what the executor would decide about it."""

    model_config = ConfigDict(frozen=True)

    line: str  # "[policy] action: why", as the timeline's step.proposed entries read
    decision: str  # would_run | dry_run | needs_approval | refused | recorded
    reason: str = ""


class Run(BaseModel):
    """One run of an incident's handler: how it was classified and what it proposed."""

    model_config = ConfigDict(frozen=True)

    scenario: str
    severity: str
    rule: str
    steps: list[str]


class Preview(BaseModel):
    """A replay in dry run against the current rules and handlers, next to the original run."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    job_id: str
    original: Run
    now: Run
    planned: list[PlannedStep]
    added: list[str]  # steps proposed now that the original run did not propose
    removed: list[str]  # steps the original run proposed that would not be proposed now
    unchanged: list[str]
    reclassified: bool  # the current rules give another scenario, severity or rule

    @property
    def changed(self) -> bool:
        return self.reclassified or bool(self.added or self.removed)
