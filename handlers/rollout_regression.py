"""rollout_regression (P1), runbook 000 §9: a staged feature's error rate exceeds its phase's."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, DisableFlag, RollbackRollout
from handlers.types import Handler, Policy, Probes, RolloutCheck, Step

# 000 §9.1 / §9.8 "Error Rate Max" per phase, in percent
PHASE_ERROR_RATE_MAX = {"alpha": 5.0, "beta": 2.0, "ga": 1.0}
LIMITS = ", ".join(f"{phase} {pct:g} %" for phase, pct in PHASE_ERROR_RATE_MAX.items())
FIRST_PHASE = "alpha"  # 000 §9.7: a rollout cannot go below alpha
FLAG_LABELS = ("feature", "flag", "featureKey")  # where an alert names the feature


@dataclass(frozen=True)
class Findings:
    rollout: RolloutCheck  # the status API: currentPhase and metrics.errorRate
    flag: str  # the feature flag: the status API's featureKey, an alert label, or the service


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    rollout = await probes.rollout(incident.service)
    named = next((incident.labels[k] for k in FLAG_LABELS if incident.labels.get(k)), None)
    return Findings(rollout, rollout.feature or named or incident.service)


def plan(incident: Incident, found: Findings) -> list[Step]:
    r = found.rollout
    limit = r.max_error_rate_pct  # PLANTAO_CONFIG's [[rollouts]], as the watchdog's
    if limit is None:
        limit = PHASE_ERROR_RATE_MAX.get(r.phase or "")
    if r.ran and limit is not None and r.error_rate_pct is not None:
        seen = f"{r.phase} error rate {r.error_rate_pct:g} % against {limit:g} %"
        if r.error_rate_pct <= limit:
            why = f"runbook 000 §9.8: {seen}: within the phase's limit"
            return [Step(Advise(f"{seen}: no rollback; keep watching"), Policy.AUTO, why)]
        if r.phase == FIRST_PHASE:
            why = f"runbook 000 §9.7: {seen} and alpha has no phase below: disable the flag"
            return [Step(DisableFlag(incident.service, found.flag), Policy.APPROVE, why)]
        why = f"runbook 000 §9.7: {seen}: roll back one phase"
        return [Step(RollbackRollout(incident.service), Policy.AUTO, why)]
    status = (
        "no status API read"
        if r.url is None
        else f"status: {r.error or f'unknown phase {r.phase!r}'}"
    )
    why = f"runbook 000 §9.7: the alert says the error rate is over its limit ({LIMITS}); {status}"
    return [
        Step(RollbackRollout(incident.service), Policy.AUTO, why),
        Step(
            Advise("if the feature is already in alpha, disable its flag"),
            Policy.AUTO,
            "runbook 000 §9.7: a rollout cannot go below alpha",
        ),
    ]


HANDLER = Handler(Scenario.ROLLOUT_REGRESSION, diagnose=diagnose, plan=plan)
