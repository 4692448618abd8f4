"""The job functions ARQ runs: diagnose and plan an incident, notify, and report its resolution.

A job catches everything its handler raises: a crash is retried with a back-off, and after the
last try it is dead-lettered and posted to Slack as "handler X failed". It never fails silently.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import sentry_sdk
import structlog
from arq import Retry

from core.errors import StoreUnavailable, TransientError
from core.metrics import count_proposed
from core.models import Incident
from handlers import HANDLERS
from handlers.actions import describe
from handlers.types import Policy, Step
from worker import policies
from worker.deps import Deps
from worker.duty_jobs import DUTY_JOBS
from worker.instrument import instrument
from worker.interrupted import settle_interrupted
from worker.outcome import Status
from worker.replay import REPLAY_JOBS, plan
from worker.slack import Message, render_failed, render_opened, render_resolved, render_update
from worker.slack_jobs import SLACK_JOBS

log = structlog.get_logger()
OPENED, FAILED, RESOLVED = "opened", "failed", "resolved"
Job = Callable[..., Awaitable[str]]


def backoff_s(job_try: int) -> float:
    return float(min(30.0, 0.5 * 2 ** (job_try - 1)))  # 0.5 s, 1 s, 2 s ... capped at 30 s


def _last_try(ctx: dict[str, Any], deps: Deps) -> bool:
    return int(ctx.get("job_try", 1)) >= deps.settings.job_max_tries


async def _retry_or_give_up(
    ctx: dict[str, Any], deps: Deps, incident: Incident, error: str, after_s: float | None = None
) -> str:
    """Retry the job (after `after_s`, else with back-off), or dead-letter it and say so."""
    job_try = int(ctx.get("job_try", 1))
    if job_try < deps.settings.job_max_tries:
        await deps.store.record(incident.id, "plantao", "job.retry", f"try {job_try}: {error}")
        raise Retry(defer=after_s or backoff_s(job_try))
    job_id = str(ctx.get("job_id", ""))
    await deps.store.dead_letter(job_id, "handle_incident", [incident.id], job_try, error)
    await deps.store.record(incident.id, "plantao", "job.dead_lettered", f"{job_id}: {error}")
    log.error("job.dead_lettered", job_id=job_id, error=error)
    if not await deps.store.was_notified(incident.id, FAILED):
        try:
            if deps.room is not None:  # Web API: the outbox delivers it
                await deps.room.failed(incident, render_failed(incident, error, job_try))
            else:
                await deps.slack.post(render_failed(incident, error, job_try))
        except TransientError as exc:  # Slack down too: the dead letter and the log remain
            log.error("notify.failed", error=str(exc))
            return "dead-lettered"
        await deps.store.mark_notified(incident.id, FAILED)
    return "dead-lettered"


async def handle_incident(ctx: dict[str, Any], incident_id: str) -> str:
    deps = Deps.from_ctx(ctx)
    incident = await deps.store.incident(incident_id)
    if incident is None:
        log.error("incident.missing", incident=incident_id)
        return "missing"
    structlog.contextvars.bind_contextvars(incident=incident.id, scenario=incident.scenario.value)
    if await deps.store.was_notified(incident.id, OPENED):
        return "already notified"  # a re-run after the message went out
    if incident.silenced_by:
        await deps.store.record(
            incident.id, "plantao", "job.skipped", f"silenced by {incident.silenced_by}"
        )
        return "silenced"
    handler = HANDLERS[incident.scenario]
    timeout = deps.settings.job_timeout_s
    try:
        findings = await asyncio.wait_for(handler.diagnose(incident, deps.probes), timeout)
        steps = policies.apply(deps.config, incident.scenario, handler.plan(incident, findings))
    except Exception as exc:  # noqa: BLE001 - the job layer decides: retry or "handler failed"
        sentry_sdk.capture_exception(exc)
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log.warning("handler.failed", error=error)
        return await _retry_or_give_up(
            ctx, deps, incident, f"handler {incident.scenario} failed: {error}"
        )
    proposed = [("plantao", "step.proposed", _proposal(step)) for step in steps]
    diagnosed = ("plantao", "diagnosed", repr(findings)[:2000])
    await deps.store.record_many(incident.id, [diagnosed, *proposed])
    for step in steps:
        await count_proposed(deps.store.redis, incident, step)
    # a step an earlier run left in flight (its worker died) is settled and reported first
    outcomes = await settle_interrupted(deps.executor, incident, steps)
    for step in steps:
        if any(o.status is Status.RETRY for o in outcomes):
            break  # in order: the next steps wait for this one (in flight, or platform down)
        if step.policy is Policy.AUTO:  # approve steps wait for a responder; never steps never run
            outcomes.append(await deps.executor.run(incident, step))
    if (wait := next((o for o in outcomes if o.status is Status.RETRY), None)) is not None:
        return await _retry_or_give_up(ctx, deps, incident, wait.line(), wait.retry_after_s)
    try:
        if deps.room is not None:  # Web API: recorded in the outbox, sent by its sender
            await deps.room.opened(incident, findings, steps, outcomes)
        else:
            await deps.slack.post(render_opened(incident, findings, steps, outcomes))
    except TransientError as exc:
        return await _retry_or_give_up(ctx, deps, incident, str(exc))
    posted = ("plantao", "notified", "incident posted to Slack")
    await deps.store.record_many(incident.id, [posted], notified=OPENED)
    log.info("incident.notified", steps=len(steps))
    return "notified"


def _proposal(step: Step) -> str:
    return f"[{step.policy}] {describe(step.action)}: {step.why}"


async def _announce_once(
    ctx: dict[str, Any], deps: Deps, incident: Incident, kind: str, message: Message
) -> str:
    """Post a follow-up once per `kind`, after the incident's opening message went out."""
    if await deps.store.was_notified(incident.id, kind):
        return "already notified"
    opened = await deps.store.was_notified(incident.id, OPENED)
    announced = opened or await deps.store.was_notified(incident.id, FAILED)
    job_try = int(ctx.get("job_try", 1))
    if not announced and not _last_try(ctx, deps):
        raise Retry(defer=backoff_s(job_try))  # let the opening message go first
    try:
        if deps.room is not None:  # Web API: a thread reply and the top message updated
            await deps.room.followup(incident, kind, message)
        else:
            await deps.slack.post(message)
    except TransientError as exc:
        if _last_try(ctx, deps):
            job_id = str(ctx.get("job_id", ""))
            await deps.store.dead_letter(job_id, kind, [incident.id], job_try, str(exc))
            return "dead-lettered"
        raise Retry(defer=backoff_s(job_try)) from exc
    await deps.store.mark_notified(incident.id, kind)
    await deps.store.record(incident.id, "plantao", "notified", f"{kind} posted to Slack")
    return "notified"


async def resolve_incident(ctx: dict[str, Any], incident_id: str, occurrence: str = "0") -> str:
    """The resolution follow-up; `occurrence` counts reopenings so each resolution posts once."""
    deps = Deps.from_ctx(ctx)
    incident = await deps.store.incident(incident_id)
    if incident is None:
        return "missing"
    structlog.contextvars.bind_contextvars(incident=incident.id, scenario=incident.scenario.value)
    kind = RESOLVED if occurrence == "0" else f"{RESOLVED}:{occurrence}"
    return await _announce_once(ctx, deps, incident, kind, render_resolved(incident))


async def notify_incident(ctx: dict[str, Any], incident_id: str, event: str) -> str:
    """A follow-up about an open incident: reopened (flapping), severity raised, stale ack."""
    deps = Deps.from_ctx(ctx)
    incident = await deps.store.incident(incident_id)
    if incident is None:
        return "missing"
    structlog.contextvars.bind_contextvars(incident=incident.id, scenario=incident.scenario.value)
    if incident.silenced_by:
        return "silenced"
    kind = f"{event}:{incident.severity}" if event == "severity" else f"{event}:{incident.reopened}"
    if event == "stale_ack" and incident.acknowledged_at is not None:
        kind = f"{event}:{incident.acknowledged_at.timestamp():.0f}"
    said = await _announce_once(ctx, deps, incident, kind, render_update(incident, event))
    if event == "reopened" and deps.room is not None:
        await _propose_again(deps, incident)
    return said


async def _propose_again(deps: Deps, incident: Incident) -> None:
    """A reopened incident's approve steps get fresh approvals (Web API mode): the situation
    is back, and the buttons of the earlier opening no longer count."""
    assert deps.room is not None
    try:
        _, steps = await plan(deps, incident)
    except Exception as exc:  # noqa: BLE001 - the reopening is announced; proposals are extra
        error = f"{type(exc).__name__}: {exc}"
        await deps.store.record(incident.id, "plantao", "job.skipped", f"not re-planned: {error}")
        return
    if not any(step.policy is Policy.APPROVE for step in steps):
        return
    proposed = [("plantao", "step.proposed", _proposal(step)) for step in steps]
    await deps.store.record_many(incident.id, proposed)
    await deps.room.reproposed(incident, steps)


def _retry_on_store_errors(job: Job) -> Job:
    """Redis failing mid-job is worth a retry, not a failed job (ARQ fails any other error)."""

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: str) -> str:
        try:
            return await job(ctx, *args)
        except StoreUnavailable as exc:
            raise Retry(defer=backoff_s(int(ctx.get("job_try", 1)))) from exc

    return run


JOBS: tuple[Job, ...] = instrument(  # metrics per job: worker/instrument.py
    tuple(_retry_on_store_errors(j) for j in (handle_incident, resolve_incident, notify_incident))
    + DUTY_JOBS
    + REPLAY_JOBS
    + SLACK_JOBS
)
