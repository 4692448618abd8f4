"""Approve or reject a proposed step through the operator API (responder role or higher), under
the same rules as Slack's buttons (core/approvals.py): single use, bound to the incident and the
step, expiring, and a second different approver where the step needs two. Slack's approver
allow-list does not apply here: the token's role is the permission.

The decision is taken here, so the answer says what happened; running an approved step is the
worker's (the same job a Slack click makes), so this answers 202 with the job's id."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from core.approvals import Approvals, Click, Verdict
from core.errors import InvalidTransition, UnknownIncident
from core.queue import enqueue
from core.store import redis_errors
from webhook.operator_auth import Responder

router = APIRouter(prefix="/api", tags=["operator"])
REFUSED = {
    Verdict.EXPIRED: "this approval expired: the step must be proposed again",
    Verdict.USED: "this approval was already used ({detail}): a decision counts once",
    Verdict.SAME_USER: "you approved already: a second, different approver is needed",
}


class StepDecision(BaseModel):
    outcome: str  # approved | waiting | rejected
    detail: str
    job: str | None = None  # the worker job that runs an approved step


async def _decide(
    request: Request, incident_id: str, step: str, who: str, approve: bool
) -> StepDecision:
    deps = request.app.state.deps
    incident = await deps.store.incident(incident_id)
    if incident is None:
        raise UnknownIncident(f"no incident {incident_id}")
    action = "approve" if approve else "reject"
    click = Click(action=action, incident=incident_id, step=step, user=who, via="operator")
    proposed = await Approvals(deps.redis).get(incident_id, step)
    if proposed is not None and proposed.episode != incident.reopened:
        error = "this step was proposed before the incident reopened: decide on the new proposal"
        await deps.store.record(incident_id, click.actor, "operator.refused", error)
        raise InvalidTransition(error)
    decision = await Approvals(deps.redis).decide(incident_id, step, who, approve=approve)
    match decision.verdict:
        case Verdict.UNKNOWN:
            raise UnknownIncident(f"incident {incident_id} has no step {step!r} to approve")
        case Verdict.EXPIRED | Verdict.USED | Verdict.SAME_USER:
            error = REFUSED[decision.verdict].format(detail=decision.detail)
            await deps.store.record(incident_id, click.actor, "operator.refused", error)
            raise InvalidTransition(error)  # 409, and the audit record says why
        case Verdict.WAITING:
            await deps.store.record(incident_id, click.actor, "operator.approve", step)
            return StepDecision(outcome="waiting", detail="a second, different approver is needed")
        case Verdict.REJECTED:
            await deps.store.record(incident_id, click.actor, "operator.reject", step)
            await Approvals(deps.redis).settle(incident_id, step, f"rejected by {click.actor}")
            return StepDecision(outcome="rejected", detail=f"{step} will not run")
    # approved: the worker runs it once (its job sees this approval and runs the step)
    job_id = f"operator:approve:{incident_id}:{step}"
    async with redis_errors():
        await enqueue(deps.redis, "slack_approve", click.model_dump_json(), job_id=job_id)
    return StepDecision(outcome="approved", detail=f"approved by {decision.detail}", job=job_id)


@router.post("/incidents/{incident_id}/steps/{step}/approve", status_code=202)
async def approve_step(
    request: Request, incident_id: str, step: str, who: Responder
) -> StepDecision:
    """Approve a proposed step; when enough people approved, the worker runs it once."""
    return await _decide(request, incident_id, step, who.name, approve=True)


@router.post("/incidents/{incident_id}/steps/{step}/reject")
async def reject_step(
    request: Request, incident_id: str, step: str, who: Responder
) -> StepDecision:
    """Reject a proposed step: it will not run, and its buttons in Slack are refused."""
    return await _decide(request, incident_id, step, who.name, approve=False)
