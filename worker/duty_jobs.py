"""The jobs the scheduler's timers enqueue: each gets its timer's id, runs its duty's `fire` in
the worker (probes, Slack, intake) and records the outcome on the timer, so a re-run of the
job (ARQ is at-least-once) does nothing. Slack or Redis failing is retried with a back-off;
after the last try the job is dead-lettered, never silent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from arq import Retry

from core.errors import StoreUnavailable, TransientError
from core.timers import Timer, Timers
from worker.deps import Deps
from worker.duties import (
    checklist,
    deploys,
    escalation,
    postmortems,
    reconcile,
    reminders,
    rollouts,
    rotations,
)

log = structlog.get_logger()
Fire = Callable[[Deps, Timer], Awaitable[str]]
Job = Callable[..., Awaitable[str]]


def _backoff_s(job_try: int) -> float:
    return float(min(30.0, 0.5 * 2 ** (job_try - 1)))  # as worker/jobs.py: 0.5 s, 1 s, 2 s ...


def _job(name: str, fire: Fire) -> Job:
    """An ARQ job named `name` that runs `fire` once for the timer whose id it is given."""

    async def run(ctx: dict[str, Any], timer_id: str) -> str:
        deps = Deps.from_ctx(ctx)
        job_try = int(ctx.get("job_try", 1))
        timers = Timers(deps.store.redis)
        try:
            timer = await timers.get(timer_id)
            if timer is None:
                return "skipped: the timer is gone"
            if timer.outcome:
                return f"already done: {timer.outcome}"
            structlog.contextvars.bind_contextvars(timer=timer_id)
            outcome = await fire(deps, timer)
            await timers.settle(timer_id, outcome)
        except (StoreUnavailable, TransientError) as exc:
            if job_try < deps.settings.job_max_tries or isinstance(exc, StoreUnavailable):
                raise Retry(defer=_backoff_s(job_try)) from exc
            job_id = str(ctx.get("job_id", ""))
            await deps.store.dead_letter(job_id, name, [timer_id], job_try, str(exc))
            await timers.settle(timer_id, f"dead-lettered: {exc}")
            log.error("job.dead_lettered", job_id=job_id, error=str(exc))
            return "dead-lettered"
        log.info("duty.fired", job=name, outcome=outcome)
        return outcome

    run.__name__ = run.__qualname__ = name  # ARQ registers a job under its function's name
    return run


escalate_incident = _job(escalation.JOB, escalation.fire)
run_checklist = _job(checklist.JOB, checklist.fire)
remind_rotation = _job(rotations.JOB, rotations.fire)
post_reminder = _job(reminders.JOB, reminders.fire)
watch_rollouts = _job(rollouts.JOB, rollouts.fire)
verify_deploy = _job(deploys.JOB, deploys.fire)
draft_postmortem = _job(postmortems.JOB, postmortems.fire)
report_dead_letter = _job(reconcile.JOB, reconcile.fire)

DUTY_JOBS: tuple[Job, ...] = (
    escalate_incident,
    run_checklist,
    remind_rotation,
    post_reminder,
    watch_rollouts,
    verify_deploy,
    draft_postmortem,
    report_dead_letter,
)
