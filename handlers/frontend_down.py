"""frontend_down (P0), runbook 004 S5: the frontend serves 502/503 or a white screen."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RollbackDeploy
from handlers.probing import both
from handlers.types import DeployCheck, Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    frontend: HttpCheck  # GET the frontend URL itself, latency measured
    deploys: DeployCheck  # the frontend's deploy status


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    frontend, deploys = await both(
        probes.endpoint(incident.service, Endpoint.FRONTEND), probes.deploys(incident.service)
    )
    return Findings(frontend, deploys)


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.frontend.ok:
        advice = "the frontend answers 2xx again: no rollback proposed"
        why = "runbook 004 S5 verification: the frontend answers 200"
        return [Step(Advise(advice), Policy.AUTO, why)]
    d, why = found.deploys, "runbook 004 S5: roll back the frontend deploy"
    if d.last_id is not None:
        why += f" (last deploy {d.last_id} is {d.last_status}"
        why += f"; back to {d.rollback_to_id})" if d.rollback_to_id else ")"
    return [
        Step(RollbackDeploy(incident.service), Policy.APPROVE, why, verify=Endpoint.FRONTEND),
        Step(
            Advise("check that VITE_API_URL is set on the frontend service"),
            Policy.AUTO,
            "runbook 004 S5 case 2: a missing variable breaks the frontend",
        ),
    ]


HANDLER = Handler(Scenario.FRONTEND_DOWN, diagnose=diagnose, plan=plan)
