"""rollout_regression (P1), runbook 000 §9: a staged feature's error rate exceeds its phase's."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step

# 000 §9.1 "Error Rate Max" per phase, in percent
PHASE_ERROR_RATE_MAX = {"alpha": 5.0, "beta": 2.0, "ga": 1.0}
LIMITS = ", ".join(f"{phase} {pct:g} %" for phase, pct in PHASE_ERROR_RATE_MAX.items())


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context; the rollout status API is not a probe yet


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            Advise("roll the feature back one phase: POST .../rollout/<feature>/rollback"),
            Policy.AUTO,
            f"runbook 000 §9.7: error rate above the phase's limit ({LIMITS})",
        ),
        Step(
            Advise("if the feature is already in alpha, disable its flag"),
            Policy.AUTO,
            "runbook 000 §9.9: a rollout cannot go below alpha",
        ),
    ]


HANDLER = Handler(Scenario.ROLLOUT_REGRESSION, diagnose=diagnose, plan=plan)
