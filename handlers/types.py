"""What a handler is: a read-only `diagnose` through Probes and a pure `plan` of typed Steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from core.models import Incident, Scenario
from handlers.actions import Action


class Policy(StrEnum):
    AUTO = "auto"  # runs without a human (still subject to dry-run, cooldown, pause)
    APPROVE = "approve"  # proposed in Slack, runs after a responder presses Approve
    NEVER = "never"  # shown with the reason, never run


class Endpoint(StrEnum):
    """The health endpoints of runbook 001 ("Health checks"), and the frontend's own URL."""

    HEALTH = "health"
    READY = "ready"
    DEEP = "deep"
    SCHEMA = "schema"  # 001 "Fluxo de Migrations": the applied schema version
    CIRCUITS = "circuits"  # 000 §9.9 / 001: circuit breakers of the service's dependencies
    FRONTEND = "frontend"  # 004 S5: ServiceConfig.frontend_url (or the service's url)


@dataclass(frozen=True)
class HttpCheck:
    """The result of one HTTP probe; a probe that could not run says why in `error`."""

    endpoint: Endpoint
    url: str | None
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    body: str = ""  # the first characters of the answer, for evidence

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def ran(self) -> bool:
        return self.url is not None and (self.status is not None or self.error is not None)

    def describe(self) -> str:
        if self.url is None:
            return f"{self.endpoint}: not probed ({self.error})"
        if self.status is None:
            return f"{self.endpoint}: {self.url} failed: {self.error}"
        return f"{self.endpoint}: {self.url} -> {self.status} in {self.latency_ms:.0f} ms"


@dataclass(frozen=True)
class DbCheck:
    """The monitored Postgres (runbook 004 S1/S2): SELECT 1 and pg_stat_activity, read-only."""

    ran: bool  # False: the service has no database_url (see `error`)
    reachable: bool = False
    latency_ms: float | None = None  # SELECT 1 round trip
    connections: int | None = None  # client backends on the whole server
    max_connections: int | None = None
    idle_over_5min: int | None = None  # idle sessions in the service's database, > 5 min
    oldest_connection_s: float | None = None
    error: str | None = None

    @property
    def usage(self) -> float | None:
        """Share of max_connections in use, when known."""
        if self.connections is None or not self.max_connections:
            return None
        return self.connections / self.max_connections

    def describe(self) -> str:
        if not self.reachable:
            return f"database: {'not probed' if not self.ran else 'unreachable'} ({self.error})"
        return (
            f"database: SELECT 1 in {self.latency_ms:.0f} ms, {self.connections}/"
            f"{self.max_connections} connections, {self.idle_over_5min} idle > 5 min"
        )


@dataclass(frozen=True)
class DeployCheck:
    """The service's deployments, newest first, from Railway's API or the webhook reports."""

    source: str | None  # "railway" or "webhooks"; None: nothing to ask (see `error`)
    last_id: str | None = None
    last_status: str | None = None  # Railway's DeploymentStatus ("SUCCESS", "FAILED", ...)
    last_created_at: datetime | None = None
    last_age_s: float | None = None  # at probe time: probes may read the clock, plan may not
    last_success_id: str | None = None  # newest deployment that ran successfully (or REMOVED)
    rollback_to_id: str | None = None  # newest successful one older than the last: the target
    error: str | None = None

    @property
    def ran(self) -> bool:
        return self.source is not None and self.error is None

    def lead(self, moment: datetime) -> timedelta | None:
        """How long before `moment` the last deploy was made (negative: after); None: unknown."""
        return None if self.last_created_at is None else moment - self.last_created_at


@dataclass(frozen=True)
class PingCheck:
    """A PING to the service's Redis (runbook 001 "Health checks", 000 §9.9)."""

    target: str | None  # host:port/db, never the password; None: no redis_url
    latency_ms: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.latency_ms is not None and self.error is None

    @property
    def ran(self) -> bool:
        return self.target is not None


class LlmVerdict(StrEnum):
    """What the provider's models-list call says about our key (runbook 004 S3, S8)."""

    OK = "ok"  # 2xx
    BAD_KEY = "bad_key"  # 401
    RATE_LIMITED = "rate_limited"  # 429
    PROVIDER_DOWN = "provider_down"  # 5xx
    UNREACHABLE = "unreachable"  # no answer (timeout, refused, DNS)
    UNEXPECTED = "unexpected"  # any other status: the configured URL is probably wrong
    NOT_CONFIGURED = "not_configured"  # no llm_models_url / llm_api_key


@dataclass(frozen=True)
class LlmCheck:
    verdict: LlmVerdict
    url: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None

    @property
    def ran(self) -> bool:
        return self.verdict is not LlmVerdict.NOT_CONFIGURED


@dataclass(frozen=True)
class RolloutCheck:
    """The staged-rollout status API of runbook 000 §9.5: `currentPhase`, `metrics.errorRate`."""

    url: str | None  # None: no rollout_status_url
    feature: str | None = None  # `featureKey`
    phase: str | None = None  # lower-cased: alpha / beta / ga
    error_rate_pct: float | None = None
    error: str | None = None
    max_error_rate_pct: float | None = None  # the phase's limit ([[rollouts]] or 000 §9.1)

    @property
    def ran(self) -> bool:
        return self.url is not None and self.error is None


class Probes(Protocol):
    """Read-only checks a handler may run; the worker implements them with real clients.

    None of them raises: a probe that cannot run returns its finding saying why."""

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck: ...

    async def database(self, service: str) -> DbCheck: ...

    async def deploys(self, service: str) -> DeployCheck: ...

    async def redis(self, service: str) -> PingCheck: ...

    async def llm(self, service: str) -> LlmCheck: ...

    async def rollout(self, service: str) -> RolloutCheck: ...


@dataclass(frozen=True)
class Step:
    action: Action  # a member of the closed union in handlers/actions.py
    policy: Policy
    why: str  # one line a responder reads in Slack, citing the runbook
    verify: Endpoint | None = None  # re-probed after the action; failing it escalates


F = TypeVar("F")


@dataclass(frozen=True)
class Handler(Generic[F]):
    scenario: Scenario
    diagnose: Callable[[Incident, Probes], Awaitable[F]]  # read-only I/O through Probes
    plan: Callable[[Incident, F], list[Step]]  # pure: no I/O, no clock reads
