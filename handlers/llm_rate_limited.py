"""llm_rate_limited (P2), runbook 004 S8: the LLM provider answers 429 rate limit exceeded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.models import Incident, Scenario
from handlers.actions import Advise
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step

RECURRING_PER_DAY = 3  # 004 S8: escalate when the rate limit hits more than 3 times a day
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Findings:
    health: HttpCheck  # our own service: healthy means we only wait for the quota
    alerts: int  # 429 alerts grouped into this incident
    span: timedelta  # first to last of them


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(
        health=await probes.endpoint(incident.service, Endpoint.HEALTH),
        alerts=incident.alert_count,
        span=incident.last_seen - incident.first_seen,
    )


def plan(incident: Incident, found: Findings) -> list[Step]:
    wait = "wait about 60 s for the quota reset (backoff) and tell users generation is slow"
    steps = [Step(Advise(wait), Policy.AUTO, "runbook 004 S8: a quota problem: nothing to run")]
    per_day = found.alerts / max(found.span / DAY, 1.0)
    if per_day > RECURRING_PER_DAY:
        advice = f"about {per_day:.0f} rate limits a day: escalate (queueing or a higher tier)"
        why = f"runbook 004 S8: rate limits more than {RECURRING_PER_DAY} times a day escalate"
        steps.append(Step(Advise(advice), Policy.AUTO, why))
    return steps


HANDLER = Handler(Scenario.LLM_RATE_LIMITED, diagnose=diagnose, plan=plan)
