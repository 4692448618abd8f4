"""What a job needs, built once at worker start-up and kept in ARQ's ctx under one key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from arq.connections import ArqRedis

from core.approvals import Approvals
from core.config import PlantaoConfig
from core.models import Incident
from core.settings import Settings
from core.store import Store
from handlers.types import Probes
from worker.execute import Executor
from worker.outbox import Outbox
from worker.probes import HttpProbes
from worker.slack import Message, SlackPoster, poster_from_settings
from worker.slack_api import SlackApi
from worker.slack_room import OutboxPoster, SlackRoom

CTX_KEY = "plantao"


@dataclass(frozen=True)
class Deps:
    settings: Settings
    config: PlantaoConfig
    store: Store
    probes: Probes
    slack: SlackPoster
    http: httpx.AsyncClient
    executor: Executor
    room: SlackRoom | None = None  # Web API mode: the incident room, through the outbox

    async def tell(self, incident: Incident, kind: str, message: Message) -> None:
        """A notice about one incident: a reply in its Slack thread (once per `kind`) when it
        has one, else a message of its own (incoming-webhook mode, or no room was opened)."""
        if self.room is not None and await self.room.has_thread(incident):
            await self.room.reply(incident, kind, message)
        else:
            await self.slack.post(message)

    @classmethod
    def from_ctx(cls, ctx: dict[str, Any]) -> Deps:
        deps = ctx[CTX_KEY]
        if not isinstance(deps, Deps):
            raise TypeError("worker context holds no Deps: was on_startup run?")
        return deps

    @classmethod
    def build(
        cls,
        settings: Settings,
        config: PlantaoConfig,
        redis: ArqRedis,
        slack: SlackPoster | None = None,
        probes: Probes | None = None,
    ) -> Deps:
        """Real clients from settings; `slack` and `probes` replace them (tests, `plantao dev`)."""
        http = httpx.AsyncClient(follow_redirects=False)
        store = Store(redis, settings.timeline_max_entries, config.incidents.flap_window_s)
        probes = probes or HttpProbes.build(settings, config, http, store)
        room = None
        if slack is None and settings.slack_bot_token is not None and settings.slack_channel:
            token = settings.slack_bot_token.get_secret_value()
            api = SlackApi(settings.slack_api_url, token, http, settings.slack_request_timeout_s)
            outbox = Outbox(redis, settings.slack_channel)
            room = SlackRoom(settings, config, outbox, api, Approvals(redis), http)
            slack = OutboxPoster(outbox)
        return cls(
            settings=settings,
            config=config,
            store=store,
            probes=probes,
            slack=slack or poster_from_settings(settings, http),
            http=http,
            executor=Executor.build(settings, config, store, probes, http),
            room=room,
        )
