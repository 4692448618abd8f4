"""security_breach (P0), runbooks 004 S10 and 002 §5: unauthorized access or a data leak."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, CollectEvidence, FreezeDeploys, RollbackDeploy
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step

SECRETS = ("JWT_SECRET", "DATABASE_PASSWORD", "OPENAI_API_KEY")  # 004 S10 step 1: rotate all


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context; recent auth events are not a probe yet


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    service = incident.service
    rotations = [
        Step(
            Advise(f"rotate {name}, then confirm the new value is live"),
            Policy.AUTO,
            "runbook 004 S10 step 1 and 000 §1.4: rotate every secret, one at a time",
        )
        for name in SECRETS
    ]
    notify = (
        "call the Incident Commander and security; if personal data leaked, notify the DPO "
        "and the ANPD (LGPD)"
    )
    return [
        Step(
            CollectEvidence(service),
            Policy.AUTO,
            "runbook 004 S10 step 2: back up and keep evidence before anything else",
        ),
        Step(
            FreezeDeploys(f"security breach suspected on {service}"),
            Policy.AUTO,
            "runbook 002 §5: a data leak freezes deploys",
        ),
        Step(
            RollbackDeploy(service),
            Policy.NEVER,
            "never roll back: destroys evidence (runbook 004 S10)",
        ),
        *rotations,
        Step(Advise(notify), Policy.AUTO, "runbook 004 S10 and 002 §5: LGPD notification"),
    ]


HANDLER = Handler(Scenario.SECURITY_BREACH, diagnose=diagnose, plan=plan)
