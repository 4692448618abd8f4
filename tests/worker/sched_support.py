"""A rig for the scheduler's duties: one store, a scheduler driven by a test clock, a burst
worker, Slack and a monitored service as local recorders. Not a test module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis

from core.config import PlantaoConfig, parse_config
from core.models import Alert, Classification, Scenario, Severity, Source
from core.settings import Settings
from core.store import Arrival, IngestResult, Store
from core.timers import Timers
from tests.support.http_recorder import HttpRecorder
from tests.support.jobs import run_queued
from worker.scheduler import Scheduler


@dataclass
class Rig:
    redis: ArqRedis
    store: Store
    timers: Timers
    scheduler: Scheduler
    config: PlantaoConfig
    settings: Settings
    slack: HttpRecorder
    service: HttpRecorder  # every configured service's URL points here

    async def round(self, now: datetime) -> list[str]:
        """One leader round at `now` (the scheduler takes the lease first)."""
        assert await self.scheduler.tick()
        return await self.scheduler.run_duties(now)

    async def drain(self) -> int:
        return await run_queued(self.settings, self.config, self.redis)

    def texts(self) -> list[str]:
        return [str(b["text"]) for b in self.slack.json_bodies()]

    def matching(self, fragment: str) -> list[str]:
        return [t for t in self.texts() if fragment in t]


async def make_rig(
    redis: ArqRedis,
    make_recorder: Callable[[], HttpRecorder],
    make_settings: Callable[..., Settings],
    toml: str = "",
    services: tuple[str, ...] = ("api",),
    **settings: Any,
) -> Rig:
    """`toml` is PLANTAO_CONFIG text; `{service}` in it is the service recorder's URL."""
    slack, service = make_recorder(), make_recorder()
    blocks = "".join(f'[services.{name}]\nurl = "{service.url}"\n' for name in services)
    config = parse_config(blocks + toml.replace("{service}", service.url), "test")
    store = Store(redis, flap_window_s=config.incidents.flap_window_s)
    made = make_settings(slack_webhook_url=slack.url, probe_attempts=1, **settings)
    scheduler = Scheduler(redis, store, "rig", config=config)
    return Rig(redis, store, Timers(redis), scheduler, config, made, slack, service)


def alert(
    fingerprint: str = "fp-1", service: str = "api", firing: bool = True, name: str = "ApiDown"
) -> Alert:
    return Alert(
        source=Source.ALERTMANAGER,
        fingerprint=fingerprint,
        name=name,
        service=service,
        firing=firing,
        summary=f"{name} on {service}",
    )


async def open_incident(
    store: Store,
    severity: Severity = Severity.P0,
    scenario: Scenario = Scenario.API_DOWN,
    ago: timedelta = timedelta(0),
    fingerprint: str = "fp-1",
    firing: bool = True,
) -> IngestResult:
    """An alert through the store's intake, as if it arrived `ago` before now."""
    found = Classification(scenario=scenario, severity=severity, rule="test", why="a test alert")
    arrival = Arrival(alert(fingerprint, firing=firing), found, f"{scenario}|api")
    at_ms = int((datetime.now(UTC) - ago).timestamp() * 1000)
    return await store.ingest([arrival], at_ms=at_ms)
