"""dependency_down (P1), runbooks 001 "Health checks" and 000 §9.9: Redis or a queue is gone."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, RestartService
from handlers.probing import three
from handlers.types import Endpoint, Handler, HttpCheck, PingCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    ready: HttpCheck  # 001: /health/ready is 200 only while Redis is connected
    circuits: HttpCheck  # 000 §9.9: open circuit breakers name the dependency that is gone
    redis: PingCheck  # our own PING to the service's Redis


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    ready, circuits, redis = await three(
        probes.endpoint(incident.service, Endpoint.READY),
        probes.endpoint(incident.service, Endpoint.CIRCUITS),
        probes.redis(incident.service),
    )
    return Findings(ready, circuits, redis)


def _broken(found: Findings) -> list[str]:
    """What is down, in words; only probes that ran and failed count."""
    broken = [] if found.ready.ok or not found.ready.ran else [found.ready.describe()]
    if found.circuits.ran and not found.circuits.ok:
        broken.append(f"circuits: {found.circuits.body[:120] or found.circuits.describe()}")
    if found.redis.ran and not found.redis.ok:
        broken.append(f"Redis {found.redis.target} does not answer PING ({found.redis.error})")
    return broken


def plan(incident: Incident, found: Findings) -> list[Step]:
    broken = _broken(found)
    if found.ready.ok and not broken:
        advice = "/health/ready passes again: the dependency is back; no restart proposed"
        why = "runbook 001 Health checks: /health/ready is 200 when Redis is connected"
        return [Step(Advise(advice), Policy.AUTO, why)]
    seen = "; ".join(broken) or "the probes could not run"
    return [
        Step(
            Advise(f"check the Redis service's status and the REDIS_* variables ({seen})"),
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
