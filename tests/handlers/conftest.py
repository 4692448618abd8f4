"""Handler test kit: an Incident factory, canned HttpChecks, and FakeProbes that records calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.models import CATALOG_SEVERITY, Incident, IncidentState, Scenario, Source
from handlers.types import (
    DbCheck,
    DeployCheck,
    Endpoint,
    HttpCheck,
    LlmCheck,
    LlmVerdict,
    PingCheck,
    RolloutCheck,
)

SERVICE = "backend"
T0 = datetime(2025, 11, 15, 3, 0, tzinfo=UTC)  # 03:00, when runbooks get read


def _url(endpoint: Endpoint) -> str:
    return f"http://{SERVICE}.test/{endpoint}"


def ok(endpoint: Endpoint, body: str = '{"status":"ok"}', latency_ms: float = 40.0) -> HttpCheck:
    return HttpCheck(endpoint, _url(endpoint), 200, latency_ms, body=body)


def failing(
    endpoint: Endpoint, status: int = 503, body: str = "", latency_ms: float = 40.0
) -> HttpCheck:
    return HttpCheck(endpoint, _url(endpoint), status, latency_ms, body=body)


def unreachable(endpoint: Endpoint) -> HttpCheck:
    return HttpCheck(endpoint, _url(endpoint), error="ConnectError: connection refused")


def unprobed(endpoint: Endpoint) -> HttpCheck:
    """What the worker's probes answer for a service with no URL in PLANTAO_CONFIG."""
    return HttpCheck(endpoint, None, error=f"service {SERVICE!r} has no url in PLANTAO_CONFIG")


# What the worker's other probes answer for a service with nothing configured.
NO_DB = DbCheck(ran=False, error=f"service {SERVICE!r} has no database_url")
NO_DEPLOYS = DeployCheck(None, error="no Railway ids or token, and no store to ask")
NO_REDIS = PingCheck(None, error=f"service {SERVICE!r} has no redis_url")
NO_LLM = LlmCheck(LlmVerdict.NOT_CONFIGURED, error="no llm_models_url and llm_api_key")
NO_ROLLOUT = RolloutCheck(None, error=f"service {SERVICE!r} has no rollout_status_url")


def db_ok(connections: int = 20, max_connections: int = 100, idle: int = 0) -> DbCheck:
    return DbCheck(True, True, 1.5, connections, max_connections, idle, 3600.0)


def db_down(error: str = "Postgres db.test:5432/app: connect: ConnectionRefusedError") -> DbCheck:
    return DbCheck(ran=True, error=error)


def deployed(before_incident: timedelta, status: str = "SUCCESS") -> DeployCheck:
    """Railway's last deploy made `before_incident` before T0; an earlier good one exists."""
    return DeployCheck(
        "railway",
        last_id="dep-new",
        last_status=status,
        last_created_at=T0 - before_incident,
        last_age_s=before_incident.total_seconds(),
        last_success_id="dep-new" if status == "SUCCESS" else "dep-old",
        rollback_to_id="dep-old",
    )


def llm_says(verdict: LlmVerdict, status: int | None = None) -> LlmCheck:
    return LlmCheck(verdict, "https://llm.test/v1/models", status, 80.0)


def rollout_at(phase: str, rate: float, feature: str = "new_dashboard") -> RolloutCheck:
    return RolloutCheck("http://flags.test/status", feature, phase, rate)


@dataclass
class FakeProbes:
    """Probes answering from a table (unprobed / not configured when absent), recording calls:
    health endpoints in `calls`, the other probes by name in `asked`."""

    answers: dict[Endpoint, HttpCheck] = field(default_factory=dict)
    db: DbCheck = NO_DB
    deployments: DeployCheck = NO_DEPLOYS
    ping: PingCheck = NO_REDIS
    provider: LlmCheck = NO_LLM
    staged: RolloutCheck = NO_ROLLOUT
    calls: list[tuple[str, Endpoint]] = field(default_factory=list)
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck:
        self.calls.append((service, endpoint))
        return self.answers.get(endpoint, unprobed(endpoint))

    async def database(self, service: str) -> DbCheck:
        self.asked.append((service, "database"))
        return self.db

    async def deploys(self, service: str) -> DeployCheck:
        self.asked.append((service, "deploys"))
        return self.deployments

    async def redis(self, service: str) -> PingCheck:
        self.asked.append((service, "redis"))
        return self.ping

    async def llm(self, service: str) -> LlmCheck:
        self.asked.append((service, "llm"))
        return self.provider

    async def rollout(self, service: str) -> RolloutCheck:
        self.asked.append((service, "rollout"))
        return self.staged


MakeIncident = Callable[..., Incident]


@pytest.fixture
def make_incident() -> MakeIncident:
    """Factory: a triggered incident of a scenario on SERVICE; keywords override any field."""

    def make(scenario: Scenario = Scenario.UNKNOWN, **changes: Any) -> Incident:
        fields: dict[str, Any] = {
            "id": "inc-1",
            "service": SERVICE,
            "scenario": scenario,
            "severity": CATALOG_SEVERITY[scenario],
            "state": IncidentState.TRIGGERED,
            "summary": f"{scenario} fired",
            "rule": "test",
            "why": "a test rule",
            "source": Source.ALERTMANAGER,
            "first_seen": T0,
            "last_seen": T0,
            "alert_count": 1,
        }
        fields.update(changes)
        return Incident(**fields)

    return make
