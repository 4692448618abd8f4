"""api_high_latency (P1), runbooks 004 S2 and 003 PROC-002: requests are slow or time out."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RestartService, TerminateIdleConnections
from handlers.probing import both
from handlers.types import DbCheck, Endpoint, Handler, HttpCheck, Policy, Probes, Step

IDLE_MINUTES = 5  # 004 S2: terminate connections idle for more than 5 minutes
SLOW_MS = 1_000  # 003 PROC-002: the symptom is p95 above 1000 ms
ESCALATE_MS = 5_000  # 003 PROC-002: escalate when p95 stays above 5000 ms for 5 minutes


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # its latency_ms is the one timing we can take ourselves
    db: DbCheck  # pg_stat_activity: connections, idle > 5 min, oldest connection


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    health, db = await both(
        probes.endpoint(incident.service, Endpoint.HEALTH), probes.database(incident.service)
    )
    return Findings(health=health, db=db)


def _idle_step(incident: Incident, db: DbCheck) -> Step:
    idle = db.idle_over_5min
    if idle:
        why = f"runbook 004 S2: {idle} database connection(s) idle > {IDLE_MINUTES} min"
        return Step(TerminateIdleConnections(incident.service, IDLE_MINUTES), Policy.AUTO, why)
    if db.reachable:
        advice = f"{db.describe()}: idle connections are not the cause"
    else:
        advice = f"idle connections not counted ({db.error}): check pg_stat_activity by hand"
    return Step(Advise(advice), Policy.AUTO, "runbook 004 S2 diagnosis: pg_stat_activity")


def plan(incident: Incident, found: Findings) -> list[Step]:
    steps = [
        _idle_step(incident, found.db),
        Step(
            RestartService(incident.service),
            Policy.APPROVE,
            "runbook 004 S2: restart the backend if freeing connections did not help",
            verify=Endpoint.HEALTH,
        ),
    ]
    latency = found.health.latency_ms
    if latency is not None and latency > ESCALATE_MS:
        advice = f"/health took {latency:.0f} ms: escalate to the Escalation Engineer"
        why = f"runbook 003 PROC-002: escalate when p95 > {ESCALATE_MS} ms for 5 min"
        steps.append(Step(Advise(advice), Policy.AUTO, why))
    elif found.health.ok and latency is not None and latency < SLOW_MS:
        advice = f"/health answers in {latency:.0f} ms: look for slow queries on the slow endpoints"
        why = "runbook 004 S2 diagnosis: slow-query logs point at N+1 queries or missing indexes"
        steps.append(Step(Advise(advice), Policy.AUTO, why))
    return steps


HANDLER = Handler(Scenario.API_HIGH_LATENCY, diagnose=diagnose, plan=plan)
