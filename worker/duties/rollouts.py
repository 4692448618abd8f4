"""The rollout watchdog (runbook 000 §9): poll the status API of each service named in
[[rollouts]] (its `rollout_status_url`, through the same probe the rollout_regression handler
uses); a phase whose error rate exceeds its limit (alpha 5 %, beta 2 %, GA 1 %, or the
[[rollouts]] entry's) opens rollout_regression, and a later poll under the limit resolves it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from core.duty_config import RolloutConfig
from core.models import Scenario, Severity
from core.timers import Timer
from worker.deps import Deps
from worker.duties.alerts import Raised, raise_alerts
from worker.duties.calendar import local_date
from worker.duties.context import Duty, DutyContext, schedule_next

log = structlog.get_logger()
JOB = "watch_rollouts"


async def _check(deps: Deps, rollout: RolloutConfig, day: str) -> Raised | None:
    found = await deps.probes.rollout(rollout.service)
    feature = rollout.feature or found.feature or rollout.service
    if not found.ran or found.phase is None or found.error_rate_pct is None:
        log.warning("rollout.unreadable", feature=feature, url=found.url, error=found.error)
        return None
    phase, rate, limit = found.phase, found.error_rate_pct, found.max_error_rate_pct
    if limit is None:
        log.warning("rollout.unknown_phase", feature=feature, phase=phase)
        return None
    firing = rate > limit
    return Raised(
        duty="rollout",
        key=rollout.feature or rollout.service,  # one rollout per service; stable per entry
        service=rollout.service,
        scenario=Scenario.ROLLOUT_REGRESSION,
        severity=Severity.P1,
        firing=firing,
        summary=f"feature {feature} in {phase}: error rate {rate:g} % over {limit:g} %",
        why=f"rollout watchdog (runbook 000 §9): {phase} error rate {rate:g} % > {limit:g} %",
        occurrence=f"{phase}:{day}" if firing else "",
        labels=(("feature", feature), ("phase", phase)),
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
