"""frontend_down (P0), runbook 004 S5: the frontend serves 502/503 or a white screen."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RollbackDeploy
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.health.ok:
        advice = "the frontend answers 2xx again: no rollback proposed"
        why = "runbook 004 S5 verification: the frontend answers 200"
        return [Step(Advise(advice), Policy.AUTO, why)]
    return [
        Step(
            RollbackDeploy(incident.service),
            Policy.APPROVE,
            "runbook 004 S5: roll back the frontend deploy",
            verify=Endpoint.HEALTH,
        ),
        Step(
            Advise("check that VITE_API_URL is set on the frontend service"),
            Policy.AUTO,
            "runbook 004 S5 case 2: a missing variable breaks the frontend",
        ),
    ]


HANDLER = Handler(Scenario.FRONTEND_DOWN, diagnose=diagnose, plan=plan)
