"""Worker fixtures: the app and a burst worker sharing one store, and a Slack stub that records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis

from core.config import PlantaoConfig, ServiceConfig
from core.settings import Settings
from handlers.types import Probes
from tests.conftest import MakeClient
from tests.support.http_recorder import HttpRecorder
from tests.support.jobs import run_queued
from tests.support.postgres import connect, scratch_dsn  # noqa: F401 (fixtures)
from tests.support.railway_fake import RailwayFake
from tests.support.slack_room import MakeRoom, room_factory
from tests.support.slack_stub import SlackStub

AM_URL = "/webhooks/alertmanager"


@dataclass
class Pipeline:
    """One webhook client and a way to drain the queue with a burst worker, on one store."""

    client: httpx.AsyncClient
    redis: ArqRedis
    slack: HttpRecorder
    drain: Callable[[], Awaitable[int]]

    async def post(self, body: bytes) -> httpx.Response:
        response = await self.client.post(AM_URL, content=body)
        assert response.status_code == 202, response.text
        return response

    def texts(self) -> list[str]:
        return [str(b["text"]) for b in self.slack.json_bodies()]


MakePipeline = Callable[..., Awaitable[Pipeline]]


@pytest.fixture
async def make_pipeline(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    make_recorder: Callable[[], HttpRecorder],
) -> AsyncIterator[MakePipeline]:
    """Factory `await make_pipeline(redis, probes=None, **settings)`: Slack is a local recorder,
    service `worker` and `api` have health URLs on another local recorder."""

    async def make(redis: ArqRedis, probes: Probes | None = None, **values: Any) -> Pipeline:
        slack, health = make_recorder(), make_recorder()
        settings = make_settings(slack_webhook_url=slack.url, **values)
        config = PlantaoConfig(
            services={name: ServiceConfig(url=health.url) for name in ("worker", "api")}
        )
        client = await make_client(settings, redis)

        async def drain() -> int:
            return await run_queued(settings, config, redis, probes)

        return Pipeline(client, redis, slack, drain)

    yield make


@pytest.fixture
def railway() -> Iterator[RailwayFake]:
    """A started local Railway GraphQL API with an empty model; closed after the test."""
    fake = RailwayFake().start()
    yield fake
    fake.close()


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    """A started local Slack (Web API and response_url); closed after the test."""
    s = SlackStub().start()
    yield s
    s.close()


@pytest.fixture
def make_room(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    make_recorder: Callable[[], HttpRecorder],
    stub: SlackStub,
) -> MakeRoom:
    return room_factory(make_client, make_settings, make_recorder, stub)
