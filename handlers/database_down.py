"""database_down (P0), runbook 004 S1: the app cannot reach its Postgres."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.models import Incident, Scenario
from handlers.actions import Advise, HandOver, RestartService, RollbackDeploy
from handlers.probing import check, healthy, mentions, three
from handlers.types import DbCheck, Endpoint, Handler, HttpCheck, Policy, Probes, Step

RECENT_DEPLOY = timedelta(minutes=30)  # 004 S1 (catalogue): it began within 30 min of a deploy
POOL_FULL = 0.95  # share of max_connections in use: 004 S1 "too many connections"
POOL_FULL_SIGNS = ("too many connections", "max connections")  # 004 S1: "max connections" -> S2


@dataclass(frozen=True)
class Findings:
    health: HttpCheck
    ready: HttpCheck
    db: DbCheck  # SELECT 1 and connection count against max_connections
    deploy_lead: timedelta | None  # last deploy to the incident's start; None: unknown
    pool_full: bool  # the alert, a health answer or pg_stat_activity says the pool is exhausted


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    (health, ready), db, deploys = await three(
        check(incident, probes, Endpoint.HEALTH, Endpoint.READY),
        probes.database(incident.service),
        probes.deploys(incident.service),
    )
    texts = (incident.summary, health.body, ready.body, db.error or "")
    pool_full = mentions(POOL_FULL_SIGNS, *texts) or (db.usage or 0.0) >= POOL_FULL
    lead = deploys.lead(incident.first_seen)
    return Findings(health, ready, db, lead, pool_full)


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.pool_full:
        why = "runbook 004 S1: max connections is a latency problem (S2), not a dead database"
        return [Step(HandOver(Scenario.API_HIGH_LATENCY), Policy.AUTO, why)]
    db_down = found.db.ran and not found.db.reachable
    if healthy(found.health, found.ready) and not db_down:
        advice = "health and readiness pass again: no restart proposed; watch for a recurrence"
        why = "runbook 004 S1 verification: the health check reports the database healthy"
        return [Step(Advise(advice), Policy.AUTO, why)]
    steps = []
    if found.db.reachable:
        advice = f"{found.db.describe()} from plantão: check the app's DATABASE_URL and network"
        steps.append(Step(Advise(advice), Policy.AUTO, "runbook 004 S1 diagnosis: SELECT 1"))
    why = "runbook 004 S1: database unreachable: restart the database service"
    steps.append(Step(RestartService(incident.service), Policy.APPROVE, why, verify=Endpoint.READY))
    lead, minutes = found.deploy_lead, RECENT_DEPLOY.total_seconds() / 60
    if lead is not None and timedelta(0) <= lead < RECENT_DEPLOY:
        why = f"runbook 004 S1: it began {lead.total_seconds() / 60:.0f} min after a deploy"
        rollback = RollbackDeploy(incident.service)
        steps.append(Step(rollback, Policy.APPROVE, why, verify=Endpoint.READY))
    elif lead is None:
        advice = f"deploy history unknown: roll back by hand if one came < {minutes:g} min before"
        steps.append(Step(Advise(advice), Policy.AUTO, "runbook 004 S1 rollback criterion"))
    return steps


HANDLER = Handler(Scenario.DATABASE_DOWN, diagnose=diagnose, plan=plan)
