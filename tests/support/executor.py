"""Building blocks for executor tests: incidents, scripted probes, and an executor wired to the
Railway fake, a real Redis and (optionally) a real Postgres database."""

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from arq.connections import ArqRedis

from core.config import PlantaoConfig, ServiceConfig
from core.models import Incident, IncidentState, Scenario, Severity, Source
from core.settings import Settings
from core.store import Store
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
from tests.support.railway_fake import RailwayFake
from worker.checks import Timing
from worker.execute import Executor

SERVICE = "api"
RAILWAY_IDS = {
    "railway_project_id": "proj-1",
    "railway_environment_id": "env-prod",
    "railway_service_id": "svc-api",
}
FAST = Timing(lease_s=60.0, verify_timeout_s=0.3, verify_interval_s=0.05)


def make_incident(incident_id: str = "7", **values: Any) -> Incident:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "id": incident_id,
        "service": SERVICE,
        "scenario": Scenario.DEPLOY_FAILED,
        "severity": Severity.P1,
        "state": IncidentState.TRIGGERED,
        "summary": "deploy failed its health check",
        "rule": "test",
        "why": "test",
        "source": Source.ALERTMANAGER,
        "first_seen": now,
        "last_seen": now,
    }
    base.update(values)
    return Incident.model_validate(base)


def ok(endpoint: Endpoint = Endpoint.DEEP) -> HttpCheck:
    return HttpCheck(endpoint, "http://api.test/health/deep", 200, 12.0, body='{"status":"ok"}')


def failing(endpoint: Endpoint = Endpoint.DEEP) -> HttpCheck:
    return HttpCheck(endpoint, "http://api.test/health/deep", 503, 12.0, body="down")


@dataclass
class ScriptedProbes:
    """Answers probes from a script, one per call; the last answer repeats. Records the calls."""

    answers: deque[HttpCheck] = field(default_factory=lambda: deque([ok()]))
    calls: list[tuple[str, Endpoint]] = field(default_factory=list)

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck:
        self.calls.append((service, endpoint))
        answer = self.answers.popleft() if len(self.answers) > 1 else self.answers[0]
        return HttpCheck(
            endpoint, answer.url, answer.status, answer.latency_ms, answer.error, answer.body
        )

    # The executor only re-probes endpoints; the other probes answer "not configured".
    async def database(self, service: str) -> DbCheck:
        return DbCheck(ran=False, error="not configured")

    async def deploys(self, service: str) -> DeployCheck:
        return DeployCheck(None, error="not configured")

    async def redis(self, service: str) -> PingCheck:
        return PingCheck(None, error="not configured")

    async def llm(self, service: str) -> LlmCheck:
        return LlmCheck(LlmVerdict.NOT_CONFIGURED, error="not configured")

    async def rollout(self, service: str) -> RolloutCheck:
        return RolloutCheck(None, error="not configured")


def live_settings(railway: RailwayFake, **values: Any) -> Settings:
    """Settings with DRY_RUN off (which needs Slack approvals configured) and Railway set."""
    base: dict[str, Any] = {
        "app_env": "test",
        "dry_run": False,
        "slack_bot_token": "xoxb-test",
        "slack_channel": "#ops",
        "slack_signing_secret": "signing",
        "railway_api_token": railway.token,
        "railway_api_url": railway.url,
    }
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


def service_config(**values: Any) -> PlantaoConfig:
    return PlantaoConfig(
        services={SERVICE: ServiceConfig(url="http://api.test", **{**RAILWAY_IDS, **values})}
    )


def make_executor(
    redis: ArqRedis,
    railway: RailwayFake,
    http: httpx.AsyncClient,
    probes: ScriptedProbes | None = None,
    *,
    config: PlantaoConfig | None = None,
    timing: Timing = FAST,
    **settings: Any,
) -> Executor:
    return Executor.build(
        live_settings(railway, **settings),
        config or service_config(),
        Store(redis),
        probes or ScriptedProbes(),
        http,
        timing,
    )


def spec_for_subprocess(
    redis_url: str, railway: RailwayFake, incident: Incident, action: str
) -> dict[str, Any]:
    """The argument of tests/support/execute_once.py."""
    return {
        "redis_url": redis_url,
        "railway_url": railway.url,
        "railway_token": railway.token,
        "services": {SERVICE: {"url": "http://api.test", **RAILWAY_IDS}},
        "incident": incident.model_dump(mode="json"),
        "action": action,
        "service": SERVICE,
    }
