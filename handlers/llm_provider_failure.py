"""llm_provider_failure (P1), runbook 004 S3: the LLM provider rejects or fails our calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.models import Incident, Scenario
from handlers.actions import Advise, HandOver
from handlers.probing import mentions
from handlers.types import Handler, LlmCheck, LlmVerdict, Policy, Probes, Step

KEY_REJECTED_SIGNS = ("401", "invalid api key", "incorrect api key")  # 004 S3 case 2
ESCALATE_AFTER = timedelta(hours=2)  # 004 S3: provider down > 2 h -> Incident Commander
ROTATE = (
    "rotate OPENAI_API_KEY: new key in the provider dashboard, set it on Railway, "
    "restart, then revoke the old one"
)


@dataclass(frozen=True)
class Findings:
    llm: LlmCheck  # the models-list call with the configured key: 401 / 429 / 503
    key_rejected: bool  # the alert says 401 / invalid API key
    failing_for: timedelta  # first to last alert of this incident


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(
        llm=await probes.llm(incident.service),
        key_rejected=mentions(KEY_REJECTED_SIGNS, incident.summary),
        failing_for=incident.last_seen - incident.first_seen,
    )


def plan(incident: Incident, found: Findings) -> list[Step]:
    verdict = found.llm.verdict
    if verdict is LlmVerdict.OK:
        advice = f"the models call answers {found.llm.status} with our key: the provider is back"
        return [Step(Advise(advice), Policy.AUTO, "runbook 004 S3 verification")]
    if verdict is LlmVerdict.RATE_LIMITED:
        why = "runbook 004 S8: the provider answers 429: a quota problem, not an outage"
        return [Step(HandOver(Scenario.LLM_RATE_LIMITED), Policy.AUTO, why)]
    notice = "post the user notice (incident-notification.md): AI generation is unavailable"
    if verdict is LlmVerdict.PROVIDER_DOWN:
        notice += f" (the provider answers {found.llm.status})"
    steps = [Step(Advise(notice), Policy.AUTO, "runbook 004 S3: external provider: nothing to run")]
    if verdict is LlmVerdict.BAD_KEY or (found.key_rejected and not found.llm.ran):
        why = "runbook 004 S3 case 2 and 000 §1.3: the provider rejects the API key"
        steps.append(Step(Advise(ROTATE), Policy.AUTO, why))
    if found.failing_for >= ESCALATE_AFTER:
        hours = ESCALATE_AFTER.total_seconds() / 3600
        advice = f"the provider has failed for over {hours:g} h: call the Incident Commander"
        why = "runbook 004 S3 escalation: official communication to users"
        steps.append(Step(Advise(advice), Policy.AUTO, why))
    return steps


HANDLER = Handler(Scenario.LLM_PROVIDER_FAILURE, diagnose=diagnose, plan=plan)
