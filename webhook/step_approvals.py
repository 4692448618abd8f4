"""Proposed steps through the operator API: list them with their approvals (viewer), approve or
reject one (responder or higher) under the rules of Slack's buttons (core/step_decisions.py).
The token's name is who decided; the decision is audited (webhook/operator_auth.py).

The decision is taken here, so the answer says what happened (409 with the reason when it is
refused); carrying it out is the worker's (the job a Slack click makes: it runs an approved step
once and tells the incident's thread), so an approval answers 202 with that job's id."""

from __future__ import annotations

from fastapi import APIRouter, Request

from core.step_decisions import ProposedStep, StepDecision, decide_step, proposed_steps
from webhook.operator_auth import Responder, Viewer

router = APIRouter(prefix="/api", tags=["operator"])


@router.get("/incidents/{incident_id}/steps")
async def list_steps(request: Request, incident_id: str, _: Viewer) -> list[ProposedStep]:
    """The steps proposed for approval, with their keys (to approve by) and where they stand."""
    return await proposed_steps(request.app.state.deps.store, incident_id)


@router.post("/incidents/{incident_id}/steps/{step}/approve", status_code=202)
async def approve_step(
    request: Request, incident_id: str, step: str, who: Responder
) -> StepDecision:
    """Approve a proposed step; when enough people approved, the worker runs it once."""
    return await decide_step(request.app.state.deps.store, incident_id, step, who.name, True)


@router.post("/incidents/{incident_id}/steps/{step}/reject")
async def reject_step(
    request: Request, incident_id: str, step: str, who: Responder
) -> StepDecision:
    """Reject a proposed step: it will not run, and its buttons in Slack are refused."""
    return await decide_step(request.app.state.deps.store, incident_id, step, who.name, False)
