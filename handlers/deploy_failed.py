"""deploy_failed (P1), runbooks 004 S9, 001 rules 2-3 and 002 §3: a deploy failed its checks."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, HandOver, RollbackDeploy
from handlers.probing import wrong_environment
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    deep: HttpCheck
    wrong_environment: bool  # /health/deep says CRITICAL


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    deep = await probes.endpoint(incident.service, Endpoint.DEEP)
    return Findings(deep=deep, wrong_environment=wrong_environment(deep))


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.wrong_environment:
        why = "runbook 001 rule 3: /health/deep says CRITICAL: the deploy hit the wrong environment"
        return [Step(HandOver(Scenario.ENVIRONMENT_MISMATCH), Policy.AUTO, why)]
    if found.deep.ok:
        advice = "/health/deep passes: the running deployment is healthy; fix the build, redeploy"
        why = "runbook 001 rule 2: only a deploy failing /health/deep is rolled back"
        return [Step(Advise(advice), Policy.AUTO, why)]
    return [
        Step(
            RollbackDeploy(incident.service),
            Policy.AUTO,
            "runbook 001 rule 2: a deploy failing /health/deep is rolled back at once",
            verify=Endpoint.DEEP,
        ),
        Step(
            Advise("if the rollback fails, call the Escalation Engineer immediately"),
            Policy.AUTO,
            "runbook 004 S9 escalation: a failed rollback escalates at once",
        ),
    ]


HANDLER = Handler(Scenario.DEPLOY_FAILED, diagnose=diagnose, plan=plan)
