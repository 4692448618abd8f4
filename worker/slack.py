"""Slack messages: the only module that builds Block Kit, and the posters that deliver it.

With SLACK_BOT_TOKEN + SLACK_CHANNEL messages go through the Web API (chat.postMessage); with
SLACK_WEBHOOK_URL through an incoming webhook; with neither they are printed to the console.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

import httpx

from core.errors import NotifyFailed
from core.models import Incident
from core.settings import Settings
from handlers.actions import describe
from handlers.types import HttpCheck, Step
from worker.outcome import Outcome

TEXT_LIMIT = 3000  # Slack: a section's text may not exceed 3,000 characters
POST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Message:
    text: str  # the notification line; also what the console shows
    blocks: list[dict[str, Any]]
    lines: list[str]  # the body, one line each, for the console


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


def title(incident: Incident) -> str:
    return f"[{incident.severity}] {incident.scenario} on {incident.service}: {incident.summary}"


def _finding_lines(findings: object) -> list[str]:
    """Any handler's Findings dataclass, shown field by field; HttpChecks describe themselves."""
    if not dataclasses.is_dataclass(findings) or isinstance(findings, type):
        return [str(findings)]
    lines = []
    for field in dataclasses.fields(findings):
        value = getattr(findings, field.name)
        shown = value.describe() if isinstance(value, HttpCheck) else str(value)
        lines.append(f"{field.name}: {shown}")
    return lines


def _message(head: str, sections: list[tuple[str, list[str]]]) -> Message:
    blocks = [_section(f"*{head}*")]
    lines: list[str] = []
    for name, body in sections:
        if body:
            blocks.append(_section(f"*{name}*\n" + "\n".join(f"• {b}" for b in body)))
            lines += [f"{name}:", *(f"  - {b}" for b in body)]
    return Message(head, blocks, lines)


def render_opened(
    incident: Incident, findings: object, steps: list[Step], outcomes: Sequence[Outcome] = ()
) -> Message:
    seen = f"{incident.first_seen:%Y-%m-%d %H:%M:%S} UTC"
    about = [
        f"incident {incident.id}, {incident.source} alert, first seen {seen}",
        f"why: {incident.why}",
    ]
    if incident.link:
        about.append(f"link: {incident.link}")
    proposed = [f"[{s.policy}] {describe(s.action)} — {s.why}" for s in steps]
    actions = [
        o.line() + (" — ESCALATE: a human must look now" if o.escalate else "") for o in outcomes
    ]
    return _message(
        title(incident),
        [
            ("About", about),
            ("Diagnosis", _finding_lines(findings)),
            ("Proposed steps", proposed),
            ("Automatic steps", actions),
        ],
    )


def render_failed(incident: Incident, error: str, tries: int) -> Message:
    head = f"{title(incident)} — handler `{incident.scenario}` failed"
    body = [f"after {tries} tries: {error}", "nothing was diagnosed: look at it by hand"]
    return _message(head, [("Handler failed", body)])


def render_resolved(incident: Incident) -> Message:
    opened_for = (incident.resolved_at or incident.last_seen) - incident.first_seen
    head = f"Resolved: [{incident.severity}] {incident.scenario} on {incident.service}"
    return _message(head, [("Resolution", [f"incident {incident.id} was open for {opened_for}"])])


UPDATES = {
    "reopened": "reopened: the alert fired again soon after resolving (flapping)",
    "severity": "severity raised",
    "stale_ack": "acknowledged but quiet for too long: is anyone on it?",
}


def render_update(incident: Incident, event: str) -> Message:
    head = f"{title(incident)} — {UPDATES.get(event, event)}"
    about = [f"incident {incident.id} is {incident.state}"]
    if incident.acknowledged_by:
        about.append(f"acknowledged by {incident.acknowledged_by}")
    if incident.reopened:
        about.append(f"reopened {incident.reopened} time(s)")
    return _message(head, [("Update", about)])


def render_notice(head: str, sections: list[tuple[str, list[str]]]) -> Message:
    """A scheduler duty's message (escalation, reminder, checklist summary): a head line and
    titled sections; empty sections are left out. Mentions go in `head` so Slack notifies."""
    return _message(head, sections)


class SlackPoster(Protocol):
    async def post(self, message: Message) -> None: ...


class WebhookPoster:
    """An incoming webhook: one message per call, no updates, no buttons."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self._url, self._client = url, client

    async def post(self, message: Message) -> None:
        payload = {"text": message.text, "blocks": message.blocks}
        await _send(self._client.post(self._url, json=payload, timeout=POST_TIMEOUT_S))


class WebApiPoster:
    """chat.postMessage with a bot token."""

    def __init__(self, api_url: str, token: str, channel: str, client: httpx.AsyncClient) -> None:
        self._url = api_url.rstrip("/") + "/chat.postMessage"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._channel, self._client = channel, client

    async def post(self, message: Message) -> None:
        payload = {"channel": self._channel, "text": message.text, "blocks": message.blocks}
        request = self._client.post(
            self._url, json=payload, headers=self._headers, timeout=POST_TIMEOUT_S
        )
        response = await _send(request)
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            if not body.get("ok", False):
                raise NotifyFailed(f"Slack refused the message: {body.get('error', 'unknown')}")


class ConsolePoster:
    """No Slack configured: print each message in readable form."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self._stream = stream

    async def post(self, message: Message) -> None:
        text = "\n".join([f"━━ slack ━━ {message.text}", *message.lines, ""])
        self._stream.write(text + "\n")
        self._stream.flush()


async def _send(request: Any) -> httpx.Response:
    try:
        response: httpx.Response = await request
    except httpx.HTTPError as exc:
        raise NotifyFailed(f"Slack unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise NotifyFailed(f"Slack answered {response.status_code}")
    return response


def poster_from_settings(settings: Settings, client: httpx.AsyncClient) -> SlackPoster:
    if settings.slack_bot_token is not None and settings.slack_channel:
        token = settings.slack_bot_token.get_secret_value()
        return WebApiPoster(settings.slack_api_url, token, settings.slack_channel, client)
    if settings.slack_webhook_url is not None:
        return WebhookPoster(settings.slack_webhook_url.get_secret_value(), client)
    return ConsolePoster()
