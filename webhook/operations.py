"""The operator API's operations under /api: jobs (show, replay with a dry-run preview first),
dead letters (list, inspect, re-drive one or all), the automation switches (pause, deploy
freeze), the audit trail, and evidence bundles. Roles: webhook/operator_auth.py.

The api never runs a handler (it imports core/ only): a preview is a `preview_replay` job that a
worker runs; the route waits a bounded time for its result and otherwise answers 202 with the
job id to poll at GET /api/jobs/{id}.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from core import audit, replays
from core.audit import AuditRecord
from core.errors import UnknownIncident
from core.queue import JobInfo, job_info, wait_result
from core.replays import DeadLetter, Preview
from core.store import P, redis_errors
from core.switches import FREEZE, PAUSE, Switches
from webhook.operator_auth import Admin, Viewer

router = APIRouter(prefix="/api", tags=["operations"])
PREVIEW_WAIT_S = 10.0  # how long a preview request waits for the worker before answering 202


class JobView(BaseModel):
    job: JobInfo
    dead_letter: DeadLetter | None = None


class ReplayRequest(BaseModel):
    plan: bool = True  # dry-run preview first; run for real only with plan=false
    by: str | None = Field(default=None, max_length=100)  # who, for the timeline
    wait_s: float = Field(default=PREVIEW_WAIT_S, ge=0, le=60)


class Queued(BaseModel):
    job_id: str  # follow it at GET /api/jobs/{job_id}
    status: str = "queued"


class SwitchView(BaseModel):
    on: bool
    reason: str = ""
    by: str = ""
    at: str | None = None


class SwitchChange(BaseModel):
    switch: str
    on: bool
    reason: str
    by: str
    at: str


class SwitchesView(BaseModel):
    pause: SwitchView
    freeze: SwitchView
    dry_run: bool  # DRY_RUN, from the environment: changes only with a restart
    history: list[SwitchChange]


class SwitchRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    by: str | None = Field(default=None, max_length=100)


class SwitchOff(BaseModel):
    reason: str = Field(default="", max_length=500)
    by: str | None = Field(default=None, max_length=100)


def _deps(request: Request) -> Any:
    return request.app.state.deps


@router.get("/jobs/{job_id}")
async def show_job(request: Request, job_id: str, _: Viewer) -> JobView:
    """A job's function, arguments, tries, result or error, and its dead letter if any."""
    deps = _deps(request)
    async with redis_errors():
        info = await job_info(deps.redis, job_id)
    letter = await replays.dead_letter(deps.redis, job_id)
    if info.status == "unknown" and letter is None:
        raise UnknownIncident(f"no job {job_id} (results are kept for an hour)")
    return JobView(job=info, dead_letter=letter)


@router.post(
    "/jobs/{job_id}/replay",
    responses={200: {"model": Preview}, 202: {"model": Queued}},
    response_model=None,
)
async def replay_job(
    request: Request, job_id: str, who: Admin, body: ReplayRequest | None = None
) -> Preview | JSONResponse:
    """Re-run the job's handler on its stored incident under a new job id. With plan=true (the
    default) nothing runs: the answer is what would now be proposed and run, next to the
    original run. Recorded in the incident's timeline with who asked."""
    deps, body = _deps(request), body or ReplayRequest()
    by = body.by or who.name
    new_id = await replays.queue_replay(deps.redis, deps.store, job_id, by, plan=body.plan)
    if not body.plan:
        return JSONResponse(Queued(job_id=new_id).model_dump(), status_code=202)
    async with redis_errors():
        info = await wait_result(deps.redis, new_id, body.wait_s)
    if info.status == "complete":
        return Preview.model_validate_json(str(info.result))
    if info.status == "failed":
        return JSONResponse({"error": f"preview failed: {info.result}", "job_id": new_id}, 502)
    return JSONResponse(Queued(job_id=new_id, status=info.status).model_dump(), status_code=202)


@router.get("/deadletters")
async def list_dead_letters(request: Request, _: Viewer) -> list[DeadLetter]:
    deps = _deps(request)
    return await replays.dead_letters(deps.redis, deps.store)


@router.get("/deadletters/{job_id}")
async def show_dead_letter(request: Request, job_id: str, _: Viewer) -> DeadLetter:
    letter = await replays.dead_letter(_deps(request).redis, job_id)
    if letter is None:
        raise UnknownIncident(f"no dead letter {job_id}")
    return letter


@router.post("/deadletters/redrive", status_code=202)
async def redrive_all(request: Request, who: Admin) -> list[Queued]:
    """Queue every dead letter again, each under a new job id."""
    deps = _deps(request)
    queued = []
    for letter in await replays.dead_letters(deps.redis, deps.store):
        new_id = await replays.redrive(deps.redis, deps.store, letter.job_id, who.name)
        queued.append(Queued(job_id=new_id))
    return queued


@router.post("/deadletters/{job_id}/redrive", status_code=202)
async def redrive_one(request: Request, job_id: str, who: Admin) -> Queued:
    deps = _deps(request)
    return Queued(job_id=await replays.redrive(deps.redis, deps.store, job_id, who.name))


async def _switches(request: Request) -> SwitchesView:
    deps = _deps(request)
    switches = Switches(deps.redis)

    async def view(name: str) -> SwitchView:
        s = await switches.get(name)
        if s is None:
            return SwitchView(on=False)
        return SwitchView(on=True, reason=s.reason, by=s.by, at=s.at.isoformat())

    history = [
        SwitchChange(switch=c.switch, on=c.on, reason=c.reason, by=c.by, at=c.at.isoformat())
        for c in await switches.history()
    ]
    return SwitchesView(
        pause=await view(PAUSE),
        freeze=await view(FREEZE),
        dry_run=deps.settings.dry_run,
        history=history,
    )


@router.get("/switches")
async def show_switches(request: Request, _: Viewer) -> SwitchesView:
    """Every switch: the pause, the deploy freeze, DRY_RUN, and the latest flips."""
    return await _switches(request)


@router.post("/switches/pause")
async def pause(request: Request, who: Admin, body: SwitchRequest) -> SwitchesView:
    """Pause all automation: every step is refused with code `paused` until resumed."""
    await Switches(_deps(request).redis).on(PAUSE, body.reason, body.by or who.name)
    return await _switches(request)


@router.post("/switches/resume")
async def resume(request: Request, who: Admin, body: SwitchOff | None = None) -> SwitchesView:
    body = body or SwitchOff()
    await Switches(_deps(request).redis).off(PAUSE, body.by or who.name, body.reason)
    return await _switches(request)


@router.post("/switches/freeze")
async def freeze(request: Request, who: Admin, body: SwitchRequest) -> SwitchesView:
    """Freeze deploys: restart, rollback and redeploy are refused until unfrozen."""
    await Switches(_deps(request).redis).on(FREEZE, body.reason, body.by or who.name)
    return await _switches(request)


@router.post("/switches/unfreeze")
async def unfreeze(request: Request, who: Admin, body: SwitchOff | None = None) -> SwitchesView:
    body = body or SwitchOff()
    await Switches(_deps(request).redis).off(FREEZE, body.by or who.name, body.reason)
    return await _switches(request)


@router.get("/audit")
async def audit_trail(
    request: Request, _: Viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditRecord]:
    """Every mutating operator call, newest first. There is no route that changes it."""
    return await audit.read(_deps(request).redis, limit)


@router.get(
    "/incidents/{incident_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}, 404: {"description": "none kept"}},
)
async def evidence(request: Request, incident_id: str, _: Viewer) -> Response:
    """The incident's evidence bundle (runbook 003), as the worker stored it, for download."""
    async with redis_errors():
        raw = await _deps(request).redis.get(f"{P}evidence:{incident_id}")
    if raw is None:
        raise UnknownIncident(f"no evidence bundle for incident {incident_id}")
    disposition = f'attachment; filename="plantao-evidence-{incident_id}.json"'
    return Response(
        raw, media_type="application/json", headers={"Content-Disposition": disposition}
    )
