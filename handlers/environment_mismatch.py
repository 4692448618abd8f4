"""environment_mismatch (P0), runbook 001 "Hard Guards": the deploy uses the wrong database."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RollbackDeploy
from handlers.probing import wrong_environment
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    deep: HttpCheck
    wrong_environment: bool  # /health/deep says CRITICAL: container and database disagree


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    deep = await probes.endpoint(incident.service, Endpoint.DEEP)
    return Findings(deep=deep, wrong_environment=wrong_environment(deep))


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.deep.ok and not found.wrong_environment:
        advice = "/health/deep passes now: the environment markers match; no rollback proposed"
        why = "runbook 001 Hard Guards: /health/deep is 200 only when the markers match"
        return [Step(Advise(advice), Policy.AUTO, why)]
    why = (
        "runbook 001 rule 3: /health/deep says CRITICAL: roll back at once"
        if found.wrong_environment
        else "runbook 001 rules 2-3: the alert said CRITICAL and /health/deep does not pass"
    )
    page = (
        "page the on-call: the deploy points at the wrong database; compare APP_ENV and "
        "SUPABASE_PROJECT_REF with the app_settings markers"
    )
    return [
        Step(RollbackDeploy(incident.service), Policy.AUTO, why, verify=Endpoint.DEEP),
        Step(Advise(page), Policy.AUTO, "runbook 001 rule 3: verify the environment variables"),
    ]


HANDLER = Handler(Scenario.ENVIRONMENT_MISMATCH, diagnose=diagnose, plan=plan)
