"""api_down (P0), runbooks 003 PROC-001 and 002 §5: the API does not answer."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RestartService
from handlers.probing import check
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck
    ready: HttpCheck


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    health, ready = await check(incident, probes, Endpoint.HEALTH, Endpoint.READY)
    return Findings(health=health, ready=ready)


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.health.ok:
        advice = "/health answers again: nothing to restart"
        if not found.ready.ok:
            advice += "; /health/ready still fails, so check its dependencies (Redis)"
        return [Step(Advise(advice), Policy.AUTO, "runbook 003 PROC-001: the process is alive")]
    return [
        Step(
            Advise("if the disk or the memory is full, free it first: a restart will not"),
            Policy.AUTO,
            "runbook 003 PROC-001 steps 3-4: check disk (df -h) and memory (free -m)",
        ),
        Step(
            RestartService(incident.service),
            Policy.APPROVE,
            "runbook 002 §5: total outage: controlled restart (approve, even for P0)",
            verify=Endpoint.HEALTH,
        ),
    ]


HANDLER = Handler(Scenario.API_DOWN, diagnose=diagnose, plan=plan)
