"""The side effects of each action, and nothing else: the executor (worker/execute.py) decides
whether a step may run and records it; here reads come first, then `arm` marks the step's
record in flight, then the one request that acts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import assert_never

from core.models import Incident
from handlers.actions import (
    Action,
    Advise,
    CollectEvidence,
    DisableFlag,
    FreezeDeploys,
    HandOver,
    RedeployService,
    RestartService,
    RollbackDeploy,
    RollbackRollout,
    SetMaintenanceMode,
    TerminateIdleConnections,
)
from worker import evidence
from worker.checks import MAINTENANCE_VARIABLE, Checks, NoTarget, database_of
from worker.clients import rollout
from worker.deployments import rollback_target, running

Arm = Callable[[str, str], Awaitable[None]]  # (baseline, target): mark in flight, then act


async def perform(c: Checks, incident: Incident, action: Action, arm: Arm) -> str:
    """The side effects. Reads come first; `arm` marks the record in flight just before."""
    match action:
        case RestartService(service=svc):
            railway, ref = c.railway_for(svc)
            dep = running(await railway.deployments(ref))
            if dep is None:
                raise NoTarget(f"no running deployment of `{svc}` to restart")
            await arm(dep.id, dep.id)
            await railway.restart(dep.id)
            return f"restarted deployment {dep.id} of `{svc}`"
        case RollbackDeploy(service=svc):
            railway, ref = c.railway_for(svc)
            deps = await railway.deployments(ref)
            known = [d for d, _ in await c.store.deployments(svc)]
            dep = rollback_target(deps, known)
            if dep is None:
                raise NoTarget(f"no earlier successful deployment of `{svc}` to roll back to")
            await arm(deps[0].id, dep.id)
            await railway.rollback(dep.id)
            return f"rolled `{svc}` back from {deps[0].id} to {dep.id}"
        case RedeployService(service=svc):
            railway, ref = c.railway_for(svc)
            deps = await railway.deployments(ref)
            dep = running(deps)
            if dep is None:
                raise NoTarget(f"no running deployment of `{svc}` to redeploy")
            await arm(deps[0].id, dep.id)
            made = await railway.redeploy(dep.id)
            return f"redeployed {dep.id} of `{svc}` as {made.id}"
        case SetMaintenanceMode(service=svc, enabled=on):
            railway, ref = c.railway_for(svc)
            await arm("", svc)
            await railway.upsert_variable(ref, MAINTENANCE_VARIABLE, "true" if on else "false")
            return f"set {MAINTENANCE_VARIABLE}={'true' if on else 'false'} on `{svc}`"
        case TerminateIdleConnections(service=svc, idle_minutes=minutes):
            db, dsn = c.database_for(svc)
            await arm("", svc)
            pids = await db.terminate_idle(timedelta(minutes=minutes), database=database_of(dsn))
            return f"terminated {len(pids)} connection(s) idle > {minutes} min: pids {pids}"
        case CollectEvidence(service=svc):
            bundle = await evidence.collect(  # read-only, so before the record is armed
                incident, c.probes, c.database_or_none(svc), c.railway_or_none(svc)
            )
            await arm("", svc)
            size = await evidence.save(c.store.redis, incident, bundle)
            days = evidence.retention(incident).days
            return f"evidence kept for {days} days ({size} bytes, {len(bundle.problems)} gaps)"
        case FreezeDeploys(reason=why):
            await arm("", "deploys")
            await c.guards.freeze(why, by=f"incident {incident.id}")
            return f"deploys frozen: {why}"
        case RollbackRollout() | DisableFlag():
            return await _rollout(c, action, arm)
        case HandOver() | Advise():
            await arm("", "")
            return "recorded"
        case _:
            assert_never(action)


async def _rollout(c: Checks, action: RollbackRollout | DisableFlag, arm: Arm) -> str:
    """POST the rollout action (000 §9.7) to the service's rollout_action_url; not retried."""
    http, url = c.rollout_action_for(action.service)
    body = (
        {"action": "rollback_phase"}
        if isinstance(action, RollbackRollout)
        else {"action": "disable", "flag": action.flag}
    )
    await arm("", action.service)
    await rollout.post_action(http, url, body, c.timing.railway_timeout_s)
    return f"rollout API accepted {body['action']} for `{action.service}`"
