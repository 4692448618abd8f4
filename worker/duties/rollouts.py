"""The rollout watchdog (runbook 000 §9): poll each configured staged rollout's status API; a
phase whose error rate exceeds its limit (alpha 5 %, beta 2 %, GA 1 %) opens rollout_regression,
and a later poll under the limit resolves it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from pydantic import BaseModel, ValidationError

from core.duty_config import RolloutConfig
from core.models import Scenario, Severity
from core.timers import Timer
from worker.deps import Deps
from worker.duties.alerts import Raised, raise_alerts
from worker.duties.calendar import local_date
from worker.duties.context import Duty, DutyContext, schedule_next
from worker.duties.fetch import fetch

log = structlog.get_logger()
JOB = "watch_rollouts"


class _Metrics(BaseModel):  # runbook 000 §9.5: the status API's field names, verbatim
    errorRate: float  # noqa: N815 (percent)


class _Status(BaseModel):
    featureKey: str = ""  # noqa: N815
    currentPhase: str  # noqa: N815 (alpha / beta / ga)
    metrics: _Metrics


async def _check(deps: Deps, rollout: RolloutConfig, day: str) -> Raised | None:
    token = rollout.bearer_token.get_secret_value() if rollout.bearer_token else None
    got = await fetch(deps, rollout.status_url, token)
    try:
        status = _Status.model_validate_json(got.body) if got.ok else None
    except ValidationError as exc:
        log.warning("rollout.unreadable", feature=rollout.feature, error=str(exc)[:200])
        return None
    if status is None:
        log.warning("rollout.unreachable", feature=rollout.feature, error=got.describe())
        return None
    phase, rate = status.currentPhase.lower(), status.metrics.errorRate
    limit = rollout.max_error_rate_pct.get(phase)
    if limit is None:
        log.warning("rollout.unknown_phase", feature=rollout.feature, phase=phase)
        return None
    firing = rate > limit
    return Raised(
        duty="rollout",
        key=rollout.feature,
        service=rollout.service,
        scenario=Scenario.ROLLOUT_REGRESSION,
        severity=Severity.P1,
        firing=firing,
        summary=f"feature {rollout.feature} in {phase}: error rate {rate:g} % over {limit:g} %",
        why=f"rollout watchdog (runbook 000 §9): {phase} error rate {rate:g} % > {limit:g} %",
        occurrence=f"{phase}:{day}" if firing else "",
        labels=(("feature", rollout.feature), ("phase", phase)),
    )


async def fire(deps: Deps, timer: Timer) -> str:
    day = local_date(timer.due, deps.config.scheduler.timezone).isoformat()
    checked = await asyncio.gather(*(_check(deps, r, day) for r in deps.config.rollouts))
    raised = [r for r in checked if r is not None]
    if raised:
        await raise_alerts(deps.store, deps.config, raised)
    regressions = sum(r.firing for r in raised)
    return f"checked {len(raised)} of {len(checked)}: {regressions} over the limit"


async def plan(ctx: DutyContext, now: datetime) -> int:
    cfg = ctx.config.scheduler
    if not ctx.config.rollouts or not cfg.rollouts:
        return 0
    keep = timedelta(days=1)  # every 5 min: keep fired records briefly
    return await schedule_next(ctx, "rollouts", cfg.rollouts, cfg.timezone, JOB, now, keep=keep)


DUTY = Duty("rollouts", plan, timedelta(seconds=30))
