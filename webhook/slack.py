"""POST /slack/interactions: Slack's buttons. Verify, parse, enqueue a job by name, answer at once.

Slack wants an answer within 3 s, so nothing is decided here: the click becomes a job
(worker/slack_jobs.py) whose id is the click's, so a re-delivered request makes no second job.
The signature is Slack's v0: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` under
SLACK_SIGNING_SECRET, compared in constant time; requests older than 5 minutes are refused.
Bad signatures get 401, stale ones 400; nothing here answers 5xx.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.approvals import Click
from core.errors import BadCredentials, PayloadTooLarge, StoreUnavailable, UnparseablePayload
from core.queue import enqueue
from core.settings import Settings
from core.store import redis_errors
from webhook.sources.base import describe, fresh, hmac_sha256, single

log = structlog.get_logger()
router = APIRouter(tags=["slack"])
MAX_AGE_S = 300.0  # Slack's advice: refuse requests older than five minutes
ACTION_PREFIX = "plantao:"  # worker/slack_render.py builds action_id = prefix + action
# action -> the job (worker/slack_jobs.py SLACK_JOBS) that carries it out
JOBS: dict[str, str] = {
    "ack": "slack_acknowledge",
    "approve": "slack_approve",
    "reject": "slack_reject",
    "escalate": "slack_escalate",
    "resolve": "slack_resolve",
    "silence": "slack_silence",
}
NOT_RECORDED = {  # in SLACK_LOCALE, like the worker's refusals (worker/slack_refusals.py)
    "en": "plantão could not record your click (its storage is unavailable): try again.",
    "pt-BR": (
        "O plantão não conseguiu registrar seu clique (o armazenamento está indisponível): "
        "tente de novo."
    ),
}


class _User(BaseModel):
    id: str
    username: str = ""
    name: str = ""


class _Action(BaseModel):
    action_id: str
    value: str = ""
    action_ts: str = ""


class _Payload(BaseModel):
    """Slack's interaction payload, the fields we read, with Slack's names."""

    model_config = ConfigDict(extra="ignore")

    type: str
    user: _User
    actions: list[_Action] = Field(default_factory=list)
    response_url: str = ""


def verify(
    headers: Mapping[str, str], body: bytes, settings: Settings, now: float | None = None
) -> None:
    """Slack's v0 signature over the raw body; BadCredentials or StaleRequest when it fails."""
    secret = settings.slack_signing_secret
    if secret is None or not secret.get_secret_value():
        raise BadCredentials("SLACK_SIGNING_SECRET is not set: Slack interactions are closed")
    stamp = single(headers, "x-slack-request-timestamp")
    fresh(stamp, MAX_AGE_S, now)
    given = single(headers, "x-slack-signature") or ""
    expected = "v0=" + hmac_sha256(secret, b"v0:" + (stamp or "").encode() + b":" + body)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise BadCredentials("X-Slack-Signature does not match: check SLACK_SIGNING_SECRET")


def parse(body: bytes) -> _Payload:
    """The form's `payload` field, as Slack's JSON."""
    try:
        fields = parse_qs(body.decode(), strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise UnparseablePayload("the body is not a UTF-8 form") from exc
    payloads = fields.get("payload", [])
    if len(payloads) != 1:
        raise UnparseablePayload("payload: send exactly one `payload` form field")
    try:
        return _Payload.model_validate_json(payloads[0])
    except ValidationError as exc:
        raise UnparseablePayload(describe(exc)) from exc


def clicks(payload: _Payload) -> list[tuple[str, Click]]:
    """The buttons of ours in the payload, as (job name, Click); others are ignored."""
    out = []
    for action in payload.actions:
        name = action.action_id.removeprefix(ACTION_PREFIX)
        if not action.action_id.startswith(ACTION_PREFIX) or name not in JOBS:
            continue
        incident, _, step = action.value.partition("|")
        click = Click(
            action=name,
            incident=incident,
            step=step,
            user=payload.user.id,
            user_name=payload.user.username or payload.user.name,
            response_url=payload.response_url,
            action_ts=action.action_ts,
        )
        out.append((JOBS[name], click))
    return out


@router.post("/slack/interactions", status_code=200)
async def interactions(request: Request) -> Response:
    deps = request.app.state.deps
    settings: Settings = deps.settings
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise PayloadTooLarge(
            f"body of {declared} bytes is over the {settings.max_body_bytes}-byte limit"
        )
    body = await request.body()
    if len(body) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body is over the {settings.max_body_bytes}-byte limit")
    verify(request.headers, body, settings)
    payload = parse(body)
    try:
        for job, click in clicks(payload):
            job_id = (
                f"slack:{click.action}:{click.user}:{click.action_ts}:{click.incident}:{click.step}"
            )
            async with redis_errors():
                queued = await enqueue(deps.redis, job, click.model_dump_json(), job_id=job_id)
            log.info("slack.click", action=click.action, incident=click.incident, queued=queued)
    except StoreUnavailable as exc:
        log.warning("slack.click_not_recorded", error=str(exc))
        text = NOT_RECORDED.get(settings.slack_locale, NOT_RECORDED["en"])
        ephemeral = {"response_type": "ephemeral", "replace_original": False, "text": text}
        return JSONResponse(ephemeral, status_code=200)
    return Response(status_code=200)
