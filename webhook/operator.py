"""The operator API under /api: incidents (list, show with timeline, ack, resolve, silence) and
silences. Bearer tokens with roles (webhook/operator_auth.py); without any token the API is
closed. Jobs, replays, dead letters, switches and the audit trail are in webhook/operations.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, ValidationError

from core.errors import UnknownIncident, UnparseablePayload
from core.models import Incident, IncidentState, Scenario, Severity, TimelineEntry
from core.postmortems import load_draft
from core.silences import Matcher, Silence
from webhook.operator_auth import Responder, Viewer

router = APIRouter(prefix="/api", tags=["operator"])
LIST_LIMIT = 200


class IncidentView(BaseModel):
    incident: Incident
    timeline: list[TimelineEntry]


class Action(BaseModel):
    by: str | None = Field(default=None, max_length=100)  # who, for the timeline
    reason: str = Field(default="", max_length=500)


class SilenceRequest(BaseModel):
    matchers: list[str] = Field(min_length=1, max_length=20)  # "service=api", "scenario=~api_.*"
    duration_minutes: int = Field(default=60, ge=1, le=30 * 24 * 60)
    starts_at: datetime | None = None
    author: str | None = Field(default=None, max_length=100)
    comment: str = Field(min_length=1, max_length=500)


class IncidentSilence(BaseModel):
    duration_minutes: int = Field(default=60, ge=1, le=30 * 24 * 60)
    by: str | None = Field(default=None, max_length=100)
    comment: str = Field(default="silenced from the operator API", min_length=1, max_length=500)


async def _view(request: Request, incident_id: str) -> IncidentView:
    store = request.app.state.deps.store
    incident = await store.incident(incident_id)
    if incident is None:
        raise UnknownIncident(f"no incident {incident_id}")
    return IncidentView(incident=incident, timeline=await store.timeline(incident_id))


@router.get("/incidents")
async def list_incidents(
    request: Request,
    _: Viewer,
    state: IncidentState | None = None,
    severity: Severity | None = None,
    service: str | None = None,
    scenario: Scenario | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = 50,
) -> list[Incident]:
    store = request.app.state.deps.store
    found = []
    for incident in await store.incidents(await store.incident_ids(LIST_LIMIT * 5)):
        if (
            (state is None or incident.state == state)
            and (severity is None or incident.severity == severity)
            and (service is None or incident.service == service)
            and (scenario is None or incident.scenario == scenario)
            and (since is None or incident.last_seen >= since)
        ):
            found.append(incident)
    return found[:limit]


@router.get("/incidents/{incident_id}")
async def show_incident(request: Request, incident_id: str, _: Viewer) -> IncidentView:
    return await _view(request, incident_id)


@router.get(
    "/incidents/{incident_id}/postmortem",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}, 404: {"description": "no draft yet"}},
)
async def postmortem(request: Request, incident_id: str, _: Viewer) -> PlainTextResponse:
    """The post-mortem draft of a resolved P0/P1 (runbook 004), once the scheduler wrote it."""
    draft = await load_draft(request.app.state.deps.redis, incident_id)
    if draft is None:
        raise UnknownIncident(f"no post-mortem draft for incident {incident_id} (yet)")
    return PlainTextResponse(draft, media_type="text/markdown; charset=utf-8")


@router.post("/incidents/{incident_id}/ack")
async def acknowledge(
    request: Request, incident_id: str, who: Responder, body: Action | None = None
) -> Incident:
    actor = (body.by if body else None) or who.name
    store = request.app.state.deps.store
    reason = body.reason if body else ""
    incident: Incident = await store.transition(
        incident_id, IncidentState.ACKNOWLEDGED, actor, reason
    )
    return incident


@router.post("/incidents/{incident_id}/resolve")
async def resolve(
    request: Request, incident_id: str, who: Responder, body: Action | None = None
) -> Incident:
    actor = (body.by if body else None) or who.name
    store = request.app.state.deps.store
    reason = (body.reason if body else "") or "resolved by hand"
    incident: Incident = await store.transition(incident_id, IncidentState.RESOLVED, actor, reason)
    return incident


@router.post("/incidents/{incident_id}/silence", status_code=201)
async def silence_incident(
    request: Request, incident_id: str, who: Responder, body: IncidentSilence
) -> Silence:
    """Silence this incident's service and scenario for a while; the incident goes quiet now."""
    deps = request.app.state.deps
    incident = (await _view(request, incident_id)).incident
    now = datetime.now(UTC)
    silence = Silence(
        matchers=[
            Matcher(field="service", value=incident.service),
            Matcher(field="scenario", value=incident.scenario.value),
        ],
        starts_at=now,
        ends_at=now + timedelta(minutes=body.duration_minutes),
        author=body.by or who.name,
        comment=body.comment,
    )
    await deps.silences.add(silence)
    await deps.store.silence(incident_id, silence.id, silence.author, silence.comment)
    deps.intake.forget_silences()
    return silence


@router.get("/silences")
async def list_silences(request: Request, _: Viewer) -> list[Silence]:
    silences: list[Silence] = await request.app.state.deps.silences.all()
    return silences


@router.post("/silences", status_code=201)
async def create_silence(request: Request, who: Responder, body: SilenceRequest) -> Silence:
    deps = request.app.state.deps
    starts = body.starts_at or datetime.now(UTC)
    try:
        silence = Silence(
            matchers=[Matcher.parse(m) for m in body.matchers],
            starts_at=starts,
            ends_at=starts + timedelta(minutes=body.duration_minutes),
            author=body.author or who.name,
            comment=body.comment,
        )
    except (ValueError, ValidationError) as exc:
        raise UnparseablePayload(f"matchers: {exc}") from exc
    await deps.silences.add(silence)
    deps.intake.forget_silences()
    return silence


@router.delete("/silences/{silence_id}")
async def expire_silence(request: Request, silence_id: str, _: Responder) -> Silence:
    deps = request.app.state.deps
    silence: Silence | None = await deps.silences.expire(silence_id)
    if silence is None:
        raise UnknownIncident(f"no silence {silence_id}")
    deps.intake.forget_silences()
    return silence
