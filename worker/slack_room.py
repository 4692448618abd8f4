"""The incident room (Web API mode): one top-level message per incident, updated in place, and a
thread of what happened. Everything goes through the outbox (worker/outbox.py), so a job only
records messages; the sender delivers them.

Keys (under `plantao:`):
  slack:room:{incident}   hash   findings (JSON lines), steps (JSON StepViews) for re-rendering
  slack:ran:{incident}    list   lines of what ran, in order
Dedup keys of its outbox items: `{incident}:top` (one top-level message, ever),
`{incident}:update` (coalesced: the newest render wins), `{incident}:{kind}` (a thread reply).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import httpx
import structlog

from core.approvals import Approvals
from core.config import PlantaoConfig
from core.models import Incident, Severity
from core.settings import Settings
from core.store import P, redis_errors
from handlers.actions import (
    Action,
    RedeployService,
    RestartService,
    RollbackDeploy,
    SetMaintenanceMode,
    TerminateIdleConnections,
    describe,
)
from handlers.types import Policy, Step
from worker.ledger import episode_key
from worker.outbox import Kind, Outbox
from worker.outbox_sender import Sender
from worker.outcome import Outcome
from worker.slack import Message, _finding_lines
from worker.slack_api import SlackApi
from worker.slack_render import (
    Locale,
    StepView,
    operator_link,
    render_notification,
    render_reply,
    render_resolution,
    render_room,
)
from worker.step_codec import encode_step

log = structlog.get_logger()
ROOM = f"{P}slack:room:"
RAN = f"{P}slack:ran:"
URGENT = (Severity.P0, Severity.P1)
DESTRUCTIVE = (
    RestartService,
    RollbackDeploy,
    RedeployService,
    SetMaintenanceMode,
    TerminateIdleConnections,
)


def destructive(action: Action) -> bool:
    return isinstance(action, DESTRUCTIVE)


class SlackRoom:
    def __init__(
        self,
        settings: Settings,
        config: PlantaoConfig,
        outbox: Outbox,
        api: SlackApi,
        approvals: Approvals,
        http: httpx.AsyncClient,
    ) -> None:
        self.settings, self.config = settings, config
        self.outbox, self.api, self.approvals, self.http = outbox, api, approvals, http
        self.locale: Locale = settings.slack_locale

    def link(self, incident_id: str) -> str:
        return operator_link(self.settings.public_url, incident_id)

    def sender(self, instance: str) -> Sender:
        return Sender(self.outbox, self.api, self.settings.slack_min_interval_s, instance)

    def approvers_needed(self, incident: Incident, step: Step) -> int:
        two = incident.severity in self.config.slack.two_approvers and destructive(step.action)
        return 2 if two else 1

    async def opened(
        self, incident: Incident, findings: object, steps: list[Step], outcomes: list[Outcome]
    ) -> None:
        """Record the incident's top-level message and its first thread replies."""
        lines = _finding_lines(findings)
        views = await self._propose(incident, steps)
        ran = [o.line() for o in outcomes]
        room = {"findings": json.dumps(lines), "steps": json.dumps([asdict(v) for v in views])}
        async with redis_errors(), self.outbox.redis.pipeline(transaction=True) as pipe:
            pipe.hset(ROOM + incident.id, mapping=room)
            pipe.delete(RAN + incident.id)
            if ran:
                pipe.rpush(RAN + incident.id, *ran)
            await pipe.execute()
        top = await self.render(incident)
        urgent = incident.severity in URGENT
        await self.outbox.enqueue(
            Kind.POST,
            top.text,
            top.blocks,
            incident=incident.id,
            dedup=f"{incident.id}:top",
            urgent=urgent,
        )
        t = self.locale
        replies = [
            render_reply(f"{incident.id}: {incident.summary}", lines, t, self.link(incident.id))
        ]
        if views:
            proposed = [f"[{v.policy}] {v.line} — {v.why}" for v in views]
            replies.append(
                render_reply(
                    "Proposed steps" if t == "en" else "Passos propostos",
                    proposed,
                    t,
                    self.link(incident.id),
                )
            )
        if ran:
            replies.append(
                render_reply(
                    "Automatic steps" if t == "en" else "Passos automáticos",
                    ran,
                    t,
                    self.link(incident.id),
                )
            )
        if urgent:
            replies.append(render_notification(incident, t, self.link(incident.id)))
        for n, message in enumerate(replies):
            await self.reply(incident, f"opened:{n}", message)

    async def _propose(self, incident: Incident, steps: list[Step]) -> list[StepView]:
        """Open an approval per approve step, bound to this opening of the incident."""
        views = []
        for step in steps:
            key = episode_key(incident, step.action)
            if step.policy is Policy.APPROVE:
                needed = self.approvers_needed(incident, step)
                ttl = self.settings.slack_approval_ttl_s
                encoded = encode_step(step)
                await self.approvals.propose(
                    incident.id, key, encoded, ttl, needed, episode=incident.reopened
                )
            views.append(StepView(key, describe(step.action), step.policy.value, step.why))
        return views

    async def reproposed(self, incident: Incident, steps: list[Step]) -> None:
        """A reopened incident: its steps proposed again with fresh approvals (the buttons of
        the earlier opening are refused), in the thread and on the updated top message."""
        views = await self._propose(incident, steps)
        async with redis_errors():
            steps_json = json.dumps([asdict(v) for v in views])
            await self.outbox.redis.hset(ROOM + incident.id, "steps", steps_json)  # type: ignore[misc]
        title = (
            "Proposed again (reopened)" if self.locale == "en" else "Propostos de novo (reaberto)"
        )
        lines = [f"[{v.policy}] {v.line} — {v.why}" for v in views]
        message = render_reply(title, lines, self.locale, self.link(incident.id))
        await self.reply(incident, f"reproposed:{incident.reopened}", message)
        await self.refresh(incident)

    async def render(self, incident: Incident) -> Message:
        async with redis_errors():
            room = await self.outbox.redis.hgetall(ROOM + incident.id)  # type: ignore[misc]
            ran = await self.outbox.redis.lrange(RAN + incident.id, 0, -1)  # type: ignore[misc]
        data = {k.decode(): v.decode() for k, v in room.items()}
        findings = json.loads(data.get("findings", "[]"))
        views = []
        for raw in json.loads(data.get("steps", "[]")):
            view = StepView(**raw)
            if view.policy == Policy.APPROVE.value:
                found = await self.approvals.get(incident.id, view.key)
                if found is not None:
                    view = StepView(
                        view.key,
                        view.line,
                        view.policy,
                        view.why,
                        found.state,
                        found.by,
                        found.result,
                    )
            views.append(view)
        lines = [r.decode() for r in ran]
        return render_room(incident, findings, views, lines, self.locale, self.settings.public_url)

    async def has_thread(self, incident: Incident) -> bool:
        """Whether the incident's top-level message was queued (so replies have a parent)."""
        async with redis_errors():
            return bool(await self.outbox.redis.exists(ROOM + incident.id))

    async def refresh(self, incident: Incident) -> None:
        """Queue chat.update of the top-level message with the incident as it is now."""
        top = await self.render(incident)
        await self.outbox.enqueue(
            Kind.UPDATE,
            top.text,
            top.blocks,
            incident=incident.id,
            dedup=f"{incident.id}:update",
            replace=True,
            urgent=incident.severity in URGENT,
        )

    async def reply(self, incident: Incident, kind: str, message: Message) -> None:
        """Queue a thread reply, once per `kind`."""
        await self.outbox.enqueue(
            Kind.REPLY,
            message.text,
            message.blocks,
            incident=incident.id,
            dedup=f"{incident.id}:{kind}",
            urgent=incident.severity in URGENT,
        )

    async def followup(self, incident: Incident, kind: str, message: Message) -> None:
        """A change worth a thread reply: the reply, then the top-level message updated."""
        if kind.startswith("resolved"):
            message = render_resolution(incident, self.locale, self.link(incident.id))
        await self.reply(incident, kind, message)
        await self.refresh(incident)

    async def failed(self, incident: Incident, message: Message) -> None:
        """The handler failed: its message becomes the top-level message."""
        await self.outbox.enqueue(
            Kind.POST,
            message.text,
            message.blocks,
            incident=incident.id,
            dedup=f"{incident.id}:top",
            urgent=incident.severity in URGENT,
        )

    async def ran(self, incident: Incident, line: str) -> None:
        async with redis_errors():
            await self.outbox.redis.rpush(RAN + incident.id, line)  # type: ignore[misc]

    async def ephemeral(self, response_url: str, text: str) -> None:
        """Tell only the person who clicked (Slack's response_url); best effort."""
        if not self._trusted(response_url):
            log.warning("slack.response_url_refused", url=response_url[:80])
            return
        body: dict[str, Any] = {
            "response_type": "ephemeral",
            "replace_original": False,
            "text": text,
        }
        try:
            await self.http.post(
                response_url, json=body, timeout=self.settings.slack_request_timeout_s
            )
        except httpx.HTTPError as exc:
            log.warning("slack.ephemeral_failed", error=type(exc).__name__)

    def _trusted(self, url: str) -> bool:
        """Only Slack's own hooks (or the configured SLACK_API_URL's host): never an open relay."""
        api = httpx.URL(self.settings.slack_api_url)
        given = httpx.URL(url)
        if given.host == "hooks.slack.com" and given.scheme == "https":
            return True
        return (given.scheme, given.host, given.port) == (api.scheme, api.host, api.port)


class OutboxPoster:
    """SlackPoster for notices that belong to no incident (the scheduler's duties)."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def post(self, message: Message) -> None:
        await self._outbox.enqueue(Kind.POST, message.text, message.blocks)
