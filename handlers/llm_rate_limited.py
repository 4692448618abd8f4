"""llm_rate_limited (P2), runbook 004 S8: the LLM provider answers 429 rate limit exceeded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.models import Incident, Scenario
from handlers.actions import Advise, HandOver
from handlers.types import Handler, LlmCheck, LlmVerdict, Policy, Probes, Step

RECURRING_PER_DAY = 3  # 004 S8: escalate when the rate limit hits more than 3 times a day
DAY = timedelta(days=1)
NOT_A_QUOTA = (LlmVerdict.BAD_KEY, LlmVerdict.PROVIDER_DOWN)  # 004 S3's cases, not S8's


@dataclass(frozen=True)
class Findings:
    llm: LlmCheck  # the models-list call now: 429 still, or back to 200
    alerts: int  # 429 alerts grouped into this incident
    span: timedelta  # first to last of them


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(
        llm=await probes.llm(incident.service),
        alerts=incident.alert_count,
        span=incident.last_seen - incident.first_seen,
    )


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.llm.verdict in NOT_A_QUOTA:
        why = f"runbook 004 S3: the models call answers {found.llm.status}: not a rate limit"
        return [Step(HandOver(Scenario.LLM_PROVIDER_FAILURE), Policy.AUTO, why)]
    if found.llm.verdict is LlmVerdict.OK:
        wait = "the models call answers 200 again: the quota has reset; tell users it is back"
    else:
        wait = "wait about 60 s for the quota reset (backoff) and tell users generation is slow"
    steps = [Step(Advise(wait), Policy.AUTO, "runbook 004 S8: a quota problem: nothing to run")]
    per_day = found.alerts / max(found.span / DAY, 1.0)
    if per_day > RECURRING_PER_DAY:
        advice = f"about {per_day:.0f} rate limits a day: escalate (queueing or a higher tier)"
        why = f"runbook 004 S8: rate limits more than {RECURRING_PER_DAY} times a day escalate"
        steps.append(Step(Advise(advice), Policy.AUTO, why))
    return steps


HANDLER = Handler(Scenario.LLM_RATE_LIMITED, diagnose=diagnose, plan=plan)
