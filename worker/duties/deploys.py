"""Post-deploy verification (runbooks 001 rules 2-3 and 002 §3): after a successful deployment
(`Store.deployments`), poll the service's /health/deep for a bounded time. A CRITICAL body opens
environment_mismatch (P0) at once; no 200 within the window opens deploy_failed, whose handler
rolls back per policy; a 200 resolves what a check of an earlier deployment opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.models import Scenario, Severity
from core.timers import Timer, Timers
from handlers.probing import wrong_environment
from handlers.types import Endpoint, HttpCheck
from worker.deps import Deps
from worker.duties.alerts import Raised, raise_alerts
from worker.duties.context import Duty, DutyContext

JOB = "verify_deploy"
LOOKBACK = timedelta(hours=1)  # a deployment first seen later than this is not verified
KEEP = timedelta(days=1)


def _timer(service: str, deploy: str, deployed_ms: str, attempt: int, due: datetime) -> Timer:
    args = (service, deploy, deployed_ms, str(attempt))
    return Timer(f"verify:{service}:{deploy}:{attempt}", JOB, due, args, keep=KEEP)


async def plan(ctx: DutyContext, now: datetime) -> int:
    """Start verifying each configured service's newest successful deployment."""
    since_ms, added = int((now - LOOKBACK).timestamp() * 1000), 0
    for service, svc in ctx.config.services.items():
        if svc.url is None:
            continue  # nothing to poll
        deployments = await ctx.store.deployments(service, since_ms)
        if deployments:
            deploy, at = deployments[0]
            timer = _timer(service, deploy, str(int(at.timestamp() * 1000)), 0, at)
            added += await ctx.timers.schedule(timer)
    return added


def _raised(service: str, deploy: str, scenario: Scenario, firing: bool, why: str) -> Raised:
    severity = Severity.P0 if scenario is Scenario.ENVIRONMENT_MISMATCH else Severity.P1
    key = "environment" if scenario is Scenario.ENVIRONMENT_MISMATCH else "deep"
    return Raised(
        duty="post_deploy",
        key=f"{service}:{key}",
        service=service,
        scenario=scenario,
        severity=severity,
        firing=firing,
        summary=f"after deployment {deploy}: {why}",
        why=f"post-deploy verification (runbook 001 rules 2-3, 002 §3): {why}",
        occurrence=deploy if firing else "",
        labels=(("deployment", deploy),),
    )


async def _verdict(deps: Deps, service: str, deploy: str, check: HttpCheck, final: bool) -> str:
    """What this poll means: open, resolve, or '' to keep polling."""
    if wrong_environment(check):
        why = f"/health/deep says CRITICAL: wrong environment ({check.describe()})"
        bad = [_raised(service, deploy, Scenario.ENVIRONMENT_MISMATCH, True, why)]
        await raise_alerts(deps.store, deps.config, bad)
        return "failed: CRITICAL, environment_mismatch opened"
    if check.ok:
        good = [
            _raised(service, deploy, scenario, False, "/health/deep answers 200")
            for scenario in (Scenario.DEPLOY_FAILED, Scenario.ENVIRONMENT_MISMATCH)
        ]
        await raise_alerts(deps.store, deps.config, good)
        return "passed: /health/deep 200"
    if final:
        why = f"/health/deep not 200 after the verification window ({check.describe()})"
        raised = [_raised(service, deploy, Scenario.DEPLOY_FAILED, True, why)]
        taken = await raise_alerts(deps.store, deps.config, raised)
        if taken.suppressed:  # an open outage of the service inhibits it (PLANTAO_CONFIG)
            return f"failed: deploy_failed inhibited by incident {', '.join(taken.incidents)}"
        return "failed: deploy_failed opened"
    return ""


async def fire(deps: Deps, timer: Timer) -> str:
    """One poll of /health/deep; the next one is another timer, until the window closes."""
    service, deploy, deployed_ms, attempt = timer.args
    deployed = datetime.fromtimestamp(int(deployed_ms) / 1000, UTC)
    at = timer.fired_at or timer.due
    window = timedelta(seconds=deps.config.scheduler.verify_window_s)
    check = await deps.probes.endpoint(service, Endpoint.DEEP)
    outcome = await _verdict(deps, service, deploy, check, final=at - deployed >= window)
    if outcome:
        return outcome
    interval = timedelta(seconds=deps.config.scheduler.verify_interval_s)
    await Timers(deps.store.redis).schedule(
        _timer(service, deploy, deployed_ms, int(attempt) + 1, at + interval)
    )
    return f"attempt {attempt}: {check.describe()}; polling again"


DUTY = Duty("post_deploy", plan, timedelta(0))
