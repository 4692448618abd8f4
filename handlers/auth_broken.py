"""auth_broken (P1), runbook 004 S6: logins fail or sessions end at once."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RollbackDeploy
from handlers.probing import mentions
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step

SECRET_CHANGED_SIGNS = ("invalid signature", "jwt malformed")  # 004 S6: JWT_SECRET changed


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # the backend itself is up: the fault is in authentication
    signature_error: bool  # the alert names a JWT signature error: JWT_SECRET may have changed


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(
        health=await probes.endpoint(incident.service, Endpoint.HEALTH),
        signature_error=mentions(SECRET_CHANGED_SIGNS, incident.summary),
    )


def plan(incident: Incident, found: Findings) -> list[Step]:
    rollback = Step(
        RollbackDeploy(incident.service),
        Policy.APPROVE,
        "runbook 004 S6 case 3: roll back to the last stable auth code",
        verify=Endpoint.HEALTH,
    )
    secret = Step(
        Advise("if JWT_SECRET changed, set its previous value back by hand and restart"),
        Policy.NEVER,
        "runbook 004 S6 case 1: secret changes are never automatic (every session ends)",
    )
    return [secret, rollback] if found.signature_error else [rollback, secret]


HANDLER = Handler(Scenario.AUTH_BROKEN, diagnose=diagnose, plan=plan)
