"""dependency_down (P1), runbooks 001 "Health checks" and 000 §9.9: Redis or a queue is gone."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RestartService
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    ready: HttpCheck  # 001: /health/ready is 200 only while Redis is connected


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(ready=await probes.endpoint(incident.service, Endpoint.READY))


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.ready.ok:
        advice = "/health/ready passes again: the dependency is back; no restart proposed"
        why = "runbook 001 Health checks: /health/ready is 200 when Redis is connected"
        return [Step(Advise(advice), Policy.AUTO, why)]
    return [
        Step(
            Advise("check the Redis service's status and the REDIS_* variables"),
            Policy.AUTO,
            "runbook 000 §9.9 steps 1-2: find out why the dependency is gone",
        ),
        Step(
            RestartService(incident.service),
            Policy.APPROVE,
            "runbook 000 §9.9 step 3: restart the service if the dependency stays down",
            verify=Endpoint.READY,
        ),
    ]


HANDLER = Handler(Scenario.DEPENDENCY_DOWN, diagnose=diagnose, plan=plan)
