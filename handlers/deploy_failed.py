"""deploy_failed (P1), runbooks 004 S9, 001 rules 2-3 and 002 §3: a deploy failed its checks."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, HandOver, RollbackDeploy
from handlers.probing import both, wrong_environment
from handlers.types import DeployCheck, Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    deep: HttpCheck
    wrong_environment: bool  # /health/deep says CRITICAL
    deploys: DeployCheck  # deployment status; the last successful one is the rollback target


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    deep, deploys = await both(
        probes.endpoint(incident.service, Endpoint.DEEP), probes.deploys(incident.service)
    )
    return Findings(deep, wrong_environment(deep), deploys)


def _rollback_why(d: DeployCheck) -> str:
    why = "runbook 001 rule 2: a deploy failing /health/deep is rolled back at once"
    if d.rollback_to_id is not None:
        return f"{why}: back to {d.rollback_to_id}, the last successful deployment"
    if d.ran:
        return f"{why}: {d.source} lists no earlier successful deployment"
    return f"{why}: deployment list unavailable ({d.error})"


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.wrong_environment:
        why = "runbook 001 rule 3: /health/deep says CRITICAL: the deploy hit the wrong environment"
        return [Step(HandOver(Scenario.ENVIRONMENT_MISMATCH), Policy.AUTO, why)]
    if found.deep.ok:
        advice = "/health/deep passes: the running deployment is healthy; fix the build, redeploy"
        if found.deploys.last_id is not None:
            advice += f" (last deploy {found.deploys.last_id} is {found.deploys.last_status})"
        why = "runbook 001 rule 2: only a deploy failing /health/deep is rolled back"
        return [Step(Advise(advice), Policy.AUTO, why)]
    return [
        Step(
            RollbackDeploy(incident.service),
            Policy.AUTO,
            _rollback_why(found.deploys),
            verify=Endpoint.DEEP,
        ),
        Step(
            Advise("if the rollback fails, call the Escalation Engineer immediately"),
            Policy.AUTO,
            "runbook 004 S9 escalation: a failed rollback escalates at once",
        ),
    ]


HANDLER = Handler(Scenario.DEPLOY_FAILED, diagnose=diagnose, plan=plan)
