"""rate_limit_abuse (P2), runbook 003 PROC-006: one tenant is rate-limited far too often."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context; the tenant and its traffic are in the alert's labels


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            Advise("legitimate use: review the tenant's quota with them"),
            Policy.AUTO,
            "runbook 003 PROC-006 action 1: legitimate traffic gets a quota review",
        ),
        Step(
            Advise("abuse: keep the limits, notify the tenant, suspend it by hand if it persists"),
            Policy.AUTO,
            "runbook 003 PROC-006 action 2: suspension needs a human (plantão cannot suspend)",
        ),
    ]


HANDLER = Handler(Scenario.RATE_LIMIT_ABUSE, diagnose=diagnose, plan=plan)
