"""memory_leak_oom (P0), runbook 004 S4: the backend runs out of memory and crash-loops."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.models import Incident, Scenario
from handlers.actions import Advise, RestartService, RollbackDeploy
from handlers.probing import both
from handlers.types import DeployCheck, Endpoint, Handler, HttpCheck, Policy, Probes, Step

# 004 S4 "se crash após deploy: bug introduzido recentemente"; the catalogue's 30-min window
JUST_BEFORE = timedelta(minutes=30)


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # a crash loop shows as a failing or flapping /health
    deploys: DeployCheck
    deploy_lead: timedelta | None  # last deploy to the incident's start; None: unknown


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    health, deploys = await both(
        probes.endpoint(incident.service, Endpoint.HEALTH), probes.deploys(incident.service)
    )
    return Findings(health, deploys, deploys.lead(incident.first_seen))


def plan(incident: Incident, found: Findings) -> list[Step]:
    lead = found.deploy_lead
    steps = []
    if lead is None or timedelta(0) <= lead < JUST_BEFORE:
        why = (
            "runbook 004 S4: deploy history unknown: approve if a deploy preceded the crash"
            if lead is None
            else f"runbook 004 S4: crashes began {lead.total_seconds() / 60:.0f} min after a deploy"
        )
        rollback = RollbackDeploy(incident.service)
        steps.append(Step(rollback, Policy.APPROVE, why, verify=Endpoint.HEALTH))
    else:
        advice = (
            f"no deploy in the {JUST_BEFORE.total_seconds() / 60:g} min before: profile the leak"
        )
        steps.append(
            Step(Advise(advice), Policy.AUTO, "runbook 004 S4: not a fresh bug: no rollback")
        )
    steps += [
        Step(
            RestartService(incident.service),
            Policy.NEVER,
            "runbook 004 S4: a restart only repeats the OOM crash loop; roll back instead",
        ),
        Step(
            Advise("if the rollback does not help, raise the service's memory for now"),
            Policy.AUTO,
            "runbook 004 S4 immediate action 2: more RAM is the short-term fix",
        ),
    ]
    return steps


HANDLER = Handler(Scenario.MEMORY_LEAK_OOM, diagnose=diagnose, plan=plan)
