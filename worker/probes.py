"""Read-only probes for handlers (implements handlers.types.Probes): HTTP health checks, the
monitored Postgres, Redis PING, the deployment list, the LLM provider and the rollout status API.

Each probe has a timeout and a bounded retry on transport errors only (tenacity); an answer,
even a 503, is the finding and is not retried. A probe that cannot run returns a finding that
says why. It never raises into the handler.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from core.config import PlantaoConfig, ServiceConfig
from core.duty_config import PHASE_MAX_ERROR_RATE
from core.errors import PlantaoError, PlatformRefused, PlatformUnavailable
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
from worker.checks import database_of
from worker.clients.postgres import PostgresClient
from worker.clients.railway import Deployment, DeploymentStatus, RailwayClient
from worker.deployments import RAN, service_ref

BODY_EXCERPT = 500  # characters of a health body kept as evidence
ERROR_EXCERPT = 200
RETRY_WAIT_S = 0.2
IDLE_LONGER_THAN = timedelta(minutes=5)  # 004 S2: connections idle for more than 5 minutes
LLM_VERDICTS = {  # 004 S3 / S8: what the models-list status says
    401: LlmVerdict.BAD_KEY,
    429: LlmVerdict.RATE_LIMITED,
}

T = TypeVar("T")


class _Metrics(BaseModel):  # runbook 000 §9.5: the status API's field names, verbatim
    errorRate: float  # noqa: N815 (percent)


class _RolloutStatus(BaseModel):
    featureKey: str | None = None  # noqa: N815
    currentPhase: str  # noqa: N815
    metrics: _Metrics


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_EXCERPT]


class HttpProbes:
    def __init__(
        self,
        config: PlantaoConfig,
        client: httpx.AsyncClient,
        timeout_s: float,
        attempts: int,
        *,
        store: Store | None = None,
        railway: RailwayClient | None = None,
        idle_after: timedelta = IDLE_LONGER_THAN,
    ) -> None:
        self._config = config
        self._client = client
        self._timeout = timeout_s
        self._attempts = attempts
        self._store = store
        self._railway = railway
        self._idle_after = idle_after  # tests shorten the runbook's 5 minutes

    @classmethod
    def build(
        cls, settings: Settings, config: PlantaoConfig, http: httpx.AsyncClient, store: Store
    ) -> HttpProbes:
        """The production probes: Railway when RAILWAY_API_TOKEN is set, else the webhooks."""
        railway = None
        if (token := settings.railway_api_token) is not None:
            railway = RailwayClient(
                http,
                settings.railway_api_url,
                token.get_secret_value(),
                timeout_s=settings.probe_timeout_s,
                read_attempts=settings.probe_attempts,
            )
        timeout, attempts = settings.probe_timeout_s, settings.probe_attempts
        return cls(config, http, timeout, attempts, store=store, railway=railway)

    def _service(self, service: str) -> ServiceConfig | None:
        return self._config.services.get(service)

    async def _retrying(self, call: Callable[[], Awaitable[T]], *transient: type[Exception]) -> T:
        """Run `call`, again on the transient errors only, at most `attempts` times."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_fixed(RETRY_WAIT_S),
            retry=retry_if_exception_type(transient),
            reraise=True,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _get(
        self, url: str, headers: dict[str, str] | None = None
    ) -> tuple[httpx.Response, float]:
        """GET with retries on transport errors; the answer and its latency in ms."""

        async def once() -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            response = await self._client.get(url, headers=headers, timeout=self._timeout)
            return response, (time.perf_counter() - started) * 1000

        return await self._retrying(once, httpx.TransportError)

    def _url(self, service: str, endpoint: Endpoint) -> str | None:
        svc = self._service(service)
        if svc is None:
            return None
        if endpoint is Endpoint.FRONTEND:
            return svc.frontend_url or svc.url
        path = {
            Endpoint.HEALTH: svc.health_path,
            Endpoint.READY: svc.ready_path,
            Endpoint.DEEP: svc.deep_path,
            Endpoint.SCHEMA: svc.schema_path,
            Endpoint.CIRCUITS: svc.circuits_path,
        }[endpoint]
        return svc.endpoint(path)

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck:
        url = self._url(service, endpoint)
        if url is None:
            why = f"service {service!r} has no url in PLANTAO_CONFIG"
            return HttpCheck(endpoint, None, error=why)
        try:
            response, latency = await self._get(url)
        except httpx.HTTPError as exc:  # transport errors after retries, invalid URLs
            return HttpCheck(endpoint, url, error=_why(exc))
        return HttpCheck(
            endpoint, url, response.status_code, latency, None, response.text[:BODY_EXCERPT]
        )

    async def database(self, service: str) -> DbCheck:
        """SELECT 1 and pg_stat_activity through worker/clients/postgres.py (004 S1, S2)."""
        svc = self._service(service)
        if svc is None or svc.database_url is None:
            return DbCheck(ran=False, error=f"service {service!r} has no database_url")
        dsn = svc.database_url
        client = PostgresClient(dsn, timeout_s=self._timeout)
        try:
            stats = await self._retrying(
                lambda: client.stats(self._idle_after, database=database_of(dsn)),
                PlatformUnavailable,
            )
        except (PlatformUnavailable, PlatformRefused) as exc:
            return DbCheck(ran=True, error=str(exc)[:ERROR_EXCERPT])
        return DbCheck(
            ran=True,
            reachable=True,
            latency_ms=stats.ping_ms,
            connections=stats.connections,
            max_connections=stats.max_connections,
            idle_over_5min=stats.idle_over,
            oldest_connection_s=stats.oldest_connection_s,
        )

    async def deploys(self, service: str) -> DeployCheck:
        """Railway's deployment list when the service has Railway ids and a token, else the
        successful deploys Railway's webhooks reported (core.store)."""
        ref = service_ref(self._service(service))
        if self._railway is not None and ref is not None:
            try:
                found = await self._railway.deployments(ref)  # the client retries its reads
            except (PlatformUnavailable, PlatformRefused) as exc:
                return DeployCheck("railway", error=str(exc)[:ERROR_EXCERPT])
            return _summary("railway", found)
        if self._store is None:
            return DeployCheck(None, error="no Railway ids or token, and no store to ask")
        try:
            reported = await self._store.deployments(service)
        except PlantaoError as exc:
            return DeployCheck("webhooks", error=str(exc)[:ERROR_EXCERPT])
        deployments = [Deployment(i, DeploymentStatus.SUCCESS, at) for i, at in reported]
        return _summary("webhooks", deployments)

    async def redis(self, service: str) -> PingCheck:
        """PING the service's Redis (ServiceConfig.redis_url) with short timeouts."""
        svc = self._service(service)
        if svc is None or svc.redis_url is None:
            return PingCheck(None, error=f"service {service!r} has no redis_url")
        try:
            parts = urlsplit(svc.redis_url)
            target = f"{parts.hostname}:{parts.port or 6379}{parts.path or ''}"
            pool = ConnectionPool.from_url(
                svc.redis_url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
            client = Redis.from_pool(pool)  # owns the pool: aclose() disconnects it
        except ValueError as exc:  # not a redis:// URL: the config is wrong
            return PingCheck("(unparsable redis_url)", error=_why(exc))

        async def ping() -> float:
            started = time.perf_counter()
            await client.ping()
            return (time.perf_counter() - started) * 1000

        try:
            latency = await self._retrying(ping, RedisError, OSError)
        except (RedisError, OSError) as exc:
            return PingCheck(target, error=_why(exc))
        finally:
            await client.aclose()
        return PingCheck(target, latency)

    async def llm(self, service: str) -> LlmCheck:
        """GET the provider's models list with the configured key (004 S3): 401 / 429 / 5xx."""
        svc = self._service(service)
        if svc is None or svc.llm_models_url is None or svc.llm_api_key is None:
            return LlmCheck(LlmVerdict.NOT_CONFIGURED, error="no llm_models_url and llm_api_key")
        url = svc.llm_models_url
        headers = {"Authorization": f"Bearer {svc.llm_api_key.get_secret_value()}"}
        try:
            response, latency = await self._get(url, headers)
        except httpx.HTTPError as exc:
            return LlmCheck(LlmVerdict.UNREACHABLE, url, error=_why(exc))
        status = response.status_code
        verdict = LLM_VERDICTS.get(status, LlmVerdict.UNEXPECTED)
        if 200 <= status < 300:
            verdict = LlmVerdict.OK
        elif status >= 500:
            verdict = LlmVerdict.PROVIDER_DOWN
        return LlmCheck(verdict, url, status, latency)

    async def rollout(self, service: str) -> RolloutCheck:
        """Read the staged-rollout status API (000 §9.5): current phase and error rate, with the
        phase's limit. The rollout watchdog reads it through this probe too."""
        svc = self._service(service)
        if svc is None or svc.rollout_status_url is None:
            return RolloutCheck(None, error=f"service {service!r} has no rollout_status_url")
        url, token = svc.rollout_status_url, svc.rollout_status_token
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else None
        try:
            response, _ = await self._get(url, headers)
        except httpx.HTTPError as exc:
            return RolloutCheck(url, error=_why(exc))
        if not 200 <= response.status_code < 300:
            return RolloutCheck(url, error=f"HTTP {response.status_code}")
        try:
            status = _RolloutStatus.model_validate_json(response.content)
        except ValidationError as exc:
            return RolloutCheck(url, error=f"unexpected answer: {exc}"[:ERROR_EXCERPT])
        phase, rate = status.currentPhase.lower(), status.metrics.errorRate
        watched = self._config.rollout_of(service)
        limits = watched.max_error_rate_pct if watched else PHASE_MAX_ERROR_RATE
        return RolloutCheck(
            url, status.featureKey, phase, rate, max_error_rate_pct=limits.get(phase)
        )


def _summary(source: str, deployments: list[Deployment]) -> DeployCheck:
    """The newest deployment, the newest successful one and the rollback target; ages now."""
    if not deployments:
        return DeployCheck(source)
    last = deployments[0]
    success = next((d for d in deployments if d.status in RAN), None)
    target = next((d for d in deployments[1:] if d.status in RAN and d.can_rollback), None)
    return DeployCheck(
        source,
        last_id=last.id,
        last_status=str(last.status),
        last_created_at=last.created_at,
        last_age_s=(datetime.now(UTC) - last.created_at).total_seconds(),
        last_success_id=None if success is None else success.id,
        rollback_to_id=None if target is None else target.id,
    )
