"""An incident room on the local Slack (tests/support/slack_stub.py), for end-to-end tests: the
api, a burst worker, the outbox sender, and Slack's buttons pressed through /slack/interactions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from arq.connections import ArqRedis

from core.config import PlantaoConfig, ServiceConfig, SlackConfig
from core.settings import Settings
from core.store import Store
from core.tokens import TokenConfig
from tests.conftest import MakeClient, fixture_bytes
from tests.support.http_recorder import HttpRecorder
from tests.support.jobs import run_queued
from tests.support.slack_stub import TOKEN, SlackStub, click_body, signed
from worker.deps import Deps

FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
RESOLVED = fixture_bytes("alertmanager", "captured-am025-resolved-2-alerts-servicedown.json")
ERRORS = fixture_bytes("alertmanager", "captured-am025-firing-3-alerts-mixed-severity.json")
SECRET = "slack-signing-secret"


@dataclass
class Room:
    client: httpx.AsyncClient
    redis: ArqRedis
    stub: SlackStub
    settings: Settings
    config: PlantaoConfig

    async def alert(self, body: bytes) -> None:
        response = await self.client.post("/webhooks/alertmanager", content=body)
        assert response.status_code == 202, response.text

    async def drain(self) -> None:
        """Run every queued job, then send the whole outbox."""
        await run_queued(self.settings, self.config, self.redis)
        deps = Deps.build(self.settings, self.config, self.redis)
        try:
            assert deps.room is not None
            await deps.room.sender("test").drain(30)
        finally:
            await deps.http.aclose()

    async def click(self, action: str, value: str, user: str = "U0ANA", ts: str = "1.1") -> None:
        body = click_body(action, value, user, ts, f"{self.stub.hooks}/T1/1/x")
        response = await self.client.post(
            "/slack/interactions", content=body, headers=signed(SECRET, body)
        )
        assert response.status_code == 200, response.text
        await self.drain()

    def top(self, incident: str = "1") -> Any:
        """The incident's one top-level message (the scheduler's own posts, such as a daily
        checklist that falls due when a test moves the clock, are not the incident's)."""
        (top,) = [m for m in self.stub.top() if _incident_of(m) == incident]
        return top

    def thread(self) -> str:
        return "\n".join(str(m.blocks) for m in self.stub.thread(self.top().ts))

    def step_value(self) -> str:
        """The value of the first Approve button on the incident message."""
        for block in self.top().blocks:
            for element in block.get("elements", []):
                if element.get("action_id") == "plantao:approve":
                    return str(element["value"])
        raise AssertionError("no Approve button")


MakeRoom = Callable[..., Awaitable[Room]]


def room_factory(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    make_recorder: Callable[[], HttpRecorder],
    stub: SlackStub,
) -> MakeRoom:
    """make(redis, slack=SlackConfig(...), tokens=[...], **settings) -> a Room on `stub`."""

    async def make(
        redis: ArqRedis,
        slack: SlackConfig | None = None,
        tokens: list[TokenConfig] | None = None,
        **values: Any,
    ) -> Room:
        health = make_recorder()
        base: dict[str, Any] = {
            "slack_bot_token": TOKEN,
            "slack_channel": "C0PLANTAO",
            "slack_api_url": stub.url,
            "slack_signing_secret": SECRET,
            "slack_min_interval_s": 0,
            "probe_attempts": 1,
        }
        settings = make_settings(**{**base, **values})
        config = PlantaoConfig(
            services={n: ServiceConfig(url=health.url) for n in ("worker", "api")},
            slack=slack or SlackConfig(),
            tokens=tokens or [],
        )
        client = await make_client(settings, redis, config)
        return Room(client, redis, stub, settings, config)

    return make


async def ran(redis: ArqRedis) -> int:
    """How many times the executor decided a step of incident 1 (ran, refused, dry-run...)."""
    events = [e.event for e in await Store(redis).timeline("1")]
    return len([e for e in events if e.startswith("step.") and e != "step.proposed"])


def resolved_body(body: bytes) -> bytes:
    """The same delivery, every alert resolved (as Alertmanager sends it)."""
    data = json.loads(body)
    data["status"] = "resolved"
    for alert in data["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-25T05:00:00Z"
    return json.dumps(data).encode()


def _incident_of(message: Any) -> str:
    return str(((message.metadata or {}).get("event_payload") or {}).get("incident", ""))
