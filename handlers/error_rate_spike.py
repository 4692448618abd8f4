"""error_rate_spike (P1), runbooks 003 PROC-003 and 002 §5: many requests fail with 5xx."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import RollbackDeploy, SetMaintenanceMode
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step

ROLLBACK_RATE_PCT = 10  # 003 "Quando Fazer Rollback": 5xx above 10 % ...
ROLLBACK_AFTER_MIN = 5  # ... for more than 5 minutes


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # context: is the whole service down, or only some requests?


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(health=await probes.endpoint(incident.service, Endpoint.HEALTH))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            SetMaintenanceMode(incident.service, enabled=True),
            Policy.APPROVE,
            "runbook 002 §5: 500s in bulk: turn on MAINTENANCE_MODE",
        ),
        Step(
            RollbackDeploy(incident.service),
            Policy.APPROVE,
            f"runbook 003 rollback criteria: approve if 5xx > {ROLLBACK_RATE_PCT} % "
            f"for > {ROLLBACK_AFTER_MIN} min after a deploy",
            verify=Endpoint.HEALTH,
        ),
    ]


HANDLER = Handler(Scenario.ERROR_RATE_SPIKE, diagnose=diagnose, plan=plan)
