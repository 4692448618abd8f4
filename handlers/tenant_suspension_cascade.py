"""tenant_suspension_cascade (P1), runbook 003 PROC-008: many tenants are suspended at once."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context; the suspended tenants come from the admin API, not a probe yet


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            Advise("find the cause, then resume each wrongly suspended tenant, one by one"),
            Policy.AUTO,
            "runbook 003 PROC-008: POST /admin/tenants/<id>/resume after checking each one",
        ),
        Step(
            Advise("escalate if the cause of the suspensions is unknown"),
            Policy.AUTO,
            "runbook 003 PROC-008 escalation: unknown cause",
        ),
    ]


HANDLER = Handler(Scenario.TENANT_SUSPENSION_CASCADE, diagnose=diagnose, plan=plan)
