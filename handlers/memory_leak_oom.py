"""memory_leak_oom (P0), runbook 004 S4: the backend runs out of memory and crash-loops."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RestartService, RollbackDeploy
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # a crash loop shows as a failing or flapping /health


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            RollbackDeploy(incident.service),
            Policy.APPROVE,
            "runbook 004 S4: roll back to the previous stable deploy",
            verify=Endpoint.HEALTH,
        ),
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


HANDLER = Handler(Scenario.MEMORY_LEAK_OOM, diagnose=diagnose, plan=plan)
