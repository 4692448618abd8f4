"""database_down (P0), runbook 004 S1: the app cannot reach its Postgres."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, HandOver, RestartService, RollbackDeploy
from handlers.probing import check, healthy, mentions
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step

RECENT_DEPLOY_MIN = 30  # 004 S1 (catalogue): roll back if it began within 30 min of a deploy
POOL_FULL_SIGNS = ("too many connections", "max connections")  # 004 S1: "max connections" -> S2


@dataclass(frozen=True)
class Findings:
    health: HttpCheck
    ready: HttpCheck
    pool_full: bool  # the alert or a health answer says the connection pool is exhausted


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    health, ready = await check(incident, probes, Endpoint.HEALTH, Endpoint.READY)
    pool_full = mentions(POOL_FULL_SIGNS, incident.summary, health.body, ready.body)
    return Findings(health=health, ready=ready, pool_full=pool_full)


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.pool_full:
        why = "runbook 004 S1: max connections is a latency problem (S2), not a dead database"
        return [Step(HandOver(Scenario.API_HIGH_LATENCY), Policy.AUTO, why)]
    if healthy(found.health, found.ready):
        advice = "health and readiness pass again: no restart proposed; watch for a recurrence"
        why = "runbook 004 S1 verification: the health check reports the database healthy"
        return [Step(Advise(advice), Policy.AUTO, why)]
    return [
        Step(
            RestartService(incident.service),
            Policy.APPROVE,
            "runbook 004 S1: database unreachable: restart the database service",
            verify=Endpoint.READY,
        ),
        Step(
            RollbackDeploy(incident.service),
            Policy.APPROVE,
            f"runbook 004 S1: approve only if this began < {RECENT_DEPLOY_MIN} min after a deploy",
            verify=Endpoint.READY,
        ),
    ]


HANDLER = Handler(Scenario.DATABASE_DOWN, diagnose=diagnose, plan=plan)
