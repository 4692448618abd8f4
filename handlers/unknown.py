"""unknown (P3), no runbook: an alert that no classification rule matched."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context for the human who will write the rule


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    why = "catalogue row unknown: no runbook applies; notify so a human can add a rule"
    return [Step(Advise("no rule matched: add a classification rule"), Policy.AUTO, why)]


HANDLER = Handler(Scenario.UNKNOWN, diagnose=diagnose, plan=plan)
