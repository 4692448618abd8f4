"""eventlog_corruption (P1), runbook 003 PROC-007: the event log fails its integrity check."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, CollectEvidence
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context; the audit/verify endpoint is not a probe yet


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            CollectEvidence(incident.service),
            Policy.AUTO,
            "runbook 003 PROC-007: copy the event log before anything touches it",
        ),
        Step(
            Advise("escalate to the developers now"),
            Policy.AUTO,
            "runbook 003 PROC-007: escalation is immediate",
        ),
        Step(
            Advise("repair or rewrite the event log files"),
            Policy.NEVER,
            "runbook 003 PROC-007: never modify the original files",
        ),
    ]


HANDLER = Handler(Scenario.EVENTLOG_CORRUPTION, diagnose=diagnose, plan=plan)
