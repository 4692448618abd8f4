"""tenant_conflict_spike (P2), runbook 003 PROC-005: tenant conflicts keep rising."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context; which tenant and client version is in the alert's labels


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            Advise("tell the tenant's owner: its client integration (an old SDK?) needs a fix"),
            Policy.AUTO,
            "runbook 003 PROC-005: the client causes it; nothing to run here",
        ),
        Step(
            Advise("escalate if more than one tenant is affected"),
            Policy.AUTO,
            "runbook 003 PROC-005 escalation: impact on several tenants",
        ),
    ]


HANDLER = Handler(Scenario.TENANT_CONFLICT_SPIKE, diagnose=diagnose, plan=plan)
