"""auth_failure_spike (P1), runbook 003 PROC-004: authentication failures spike."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, HandOver
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context; failures by reason / tenant / IP are in the alert's labels


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            Advise("split the failures by reason, tenant and IP; if one IP sends them, block it"),
            Policy.AUTO,
            "runbook 003 PROC-004: INVALID_TOKEN in bulk from one IP may be brute force",
        ),
        Step(
            HandOver(Scenario.SECURITY_BREACH),
            Policy.APPROVE,
            "runbook 003 PROC-004: escalate as security_breach if you suspect an attack",
        ),
    ]


HANDLER = Handler(Scenario.AUTH_FAILURE_SPIKE, diagnose=diagnose, plan=plan)
