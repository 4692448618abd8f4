"""Operators decide on proposed steps outside Slack (the operator API, `plantao approve`), under
the rules of Slack's buttons (core/approvals.py): single use, bound to the incident, the step
and the incident's current opening, expiring, and two different approvers where the step needs
them. Slack's approver allow-list does not apply: the token's role (or access to Redis, for the
CLI) is the permission. The worker job a Slack click makes then carries the decision out, so the
step runs once and the incident's thread and message say what happened either way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import NoReturn

from pydantic import BaseModel

from core.approvals import Approval, Approvals, Click, Verdict
from core.errors import InvalidTransition, UnknownIncident
from core.models import Incident
from core.queue import enqueue
from core.store import Store, now_ms, redis_errors

# the worker jobs (worker/slack_jobs.py, by name) that carry a decision out, as for a Slack click
JOBS = {"approve": "slack_approve", "reject": "slack_reject"}
REFUSED = {
    Verdict.EXPIRED: "this approval expired: the step must be proposed again",
    Verdict.USED: "this approval was already used ({detail}): a decision counts once",
    Verdict.SAME_USER: "you approved already: a second, different approver is needed",
}
EARLIER = "this step was proposed before the incident reopened: decide on the new proposal"


class StepDecision(BaseModel):
    """What an operator's decision did (the API's answer, the CLI's output)."""

    outcome: str  # approved | waiting | rejected
    detail: str
    job: str  # the worker job that runs the step (approved) and tells the incident's thread


class ProposedStep(BaseModel):
    """A step proposed for approval, with where its approval stands."""

    step: str  # the key to approve or reject it by
    action: str  # RestartService, RollbackDeploy ...
    fields: dict[str, object]
    why: str
    state: str  # pending | approved | rejected | expired
    needed: int  # approvers
    approvers: list[str]
    by: str
    expires_at: datetime
    result: str  # what running it did, once it ran
    current: bool  # proposed for the incident's current opening (earlier ones are refused)


async def _incident(store: Store, incident_id: str) -> Incident:
    incident = await store.incident(incident_id)
    if incident is None:
        raise UnknownIncident(f"no incident {incident_id}")
    return incident


def _view(incident: Incident, found: Approval) -> ProposedStep:
    try:
        step = json.loads(found.step)
    except ValueError:
        step = {}
    lapsed = found.state == "pending" and found.expires_ms < now_ms()
    return ProposedStep(
        step=found.step_key,
        action=str(step.get("action", "?")),
        fields=step.get("fields") or {},
        why=str(step.get("why", "")),
        state="expired" if lapsed else found.state,
        needed=found.needed,
        approvers=found.approvers,
        by=found.by,
        expires_at=datetime.fromtimestamp(found.expires_ms / 1000, UTC),
        result=found.result,
        current=found.episode == incident.reopened,
    )


async def proposed_steps(store: Store, incident_id: str) -> list[ProposedStep]:
    """The incident's steps proposed for approval (Web API mode proposes them), oldest first."""
    incident = await _incident(store, incident_id)
    return [_view(incident, a) for a in await Approvals(store.redis).of(incident_id)]


async def decide_step(
    store: Store, incident_id: str, step: str, who: str, approve: bool, via: str = "operator"
) -> StepDecision:
    """Approve or reject a proposed step as `who`; the worker runs it once approved. Raises
    UnknownIncident (no such incident or proposal) or InvalidTransition (refused: recorded on
    the timeline with the reason)."""
    incident = await _incident(store, incident_id)
    action = "approve" if approve else "reject"
    click = Click(action=action, incident=incident_id, step=step, user=who, via=via)
    approvals = Approvals(store.redis)
    proposed = await approvals.get(incident_id, step)
    if proposed is not None and proposed.episode != incident.reopened:
        await _refuse(store, click, EARLIER)
    decision = await approvals.decide(incident_id, step, who, approve=approve)
    if decision.verdict is Verdict.UNKNOWN:
        raise UnknownIncident(f"incident {incident_id} has no step {step!r} to {action}")
    if decision.verdict in REFUSED:
        await _refuse(store, click, REFUSED[decision.verdict].format(detail=decision.detail))
    job = f"{via}:{action}:{incident_id}:{step}:{who}"  # one decision per person and step
    async with redis_errors():
        await enqueue(store.redis, JOBS[action], click.model_dump_json(), job_id=job)
    if decision.verdict is Verdict.WAITING:
        detail = "a second, different approver is needed"
        return StepDecision(outcome="waiting", detail=detail, job=job)
    if decision.verdict is Verdict.REJECTED:
        return StepDecision(outcome="rejected", detail=f"{step} will not run", job=job)
    return StepDecision(outcome="approved", detail=f"approved by {decision.detail}", job=job)


async def _refuse(store: Store, click: Click, error: str) -> NoReturn:
    await store.record(click.incident, click.actor, f"{click.via}.refused", error)
    raise InvalidTransition(error)  # 409 from the API, exit 1 from the CLI
