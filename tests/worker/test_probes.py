"""HTTP probes: status and latency measured, bounded in time, failures reported as findings."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis

from core.config import PlantaoConfig, ServiceConfig
from core.duty_config import RolloutConfig
from core.store import P, Store
from handlers.types import Endpoint, LlmVerdict
from tests.conftest import REDIS_TEST_URL
from tests.support.executor import RAILWAY_IDS
from tests.support.http_recorder import HttpRecorder
from tests.support.postgres import Connect
from tests.support.railway_fake import RailwayFake
from worker.clients.railway import RailwayClient
from worker.probes import HttpProbes


def probes(url: str | None, timeout_s: float = 1.0, attempts: int = 2) -> HttpProbes:
    services = {"api": ServiceConfig(url=url)} if url is not None else {}
    client = httpx.AsyncClient()
    return HttpProbes(PlantaoConfig(services=services), client, timeout_s, attempts)


def with_config(
    service: ServiceConfig, timeout_s: float = 1.0, attempts: int = 2, **kw: Any
) -> HttpProbes:
    """Probes for one service `api` configured as given."""
    config = PlantaoConfig(services={"api": service})
    return HttpProbes(config, httpx.AsyncClient(), timeout_s, attempts, **kw)


async def test_a_healthy_endpoint_reports_status_latency_and_body(recorder: HttpRecorder) -> None:
    """A 200 from /health is ok, with its latency and the start of its body kept as evidence."""
    recorder.respond(200, {"status": "ok"})
    check = await probes(recorder.url).endpoint("api", Endpoint.HEALTH)
    assert check.ok and check.status == 200
    assert check.latency_ms is not None and check.latency_ms >= 0
    assert '"status"' in check.body
    assert recorder.requests[0].path == "/health"


async def test_each_endpoint_uses_its_configured_path(recorder: HttpRecorder) -> None:
    """ready and deep go to /health/ready and /health/deep (runbook 001)."""
    p = probes(recorder.url)
    await p.endpoint("api", Endpoint.READY)
    await p.endpoint("api", Endpoint.DEEP)
    assert [r.path for r in recorder.requests] == ["/health/ready", "/health/deep"]


async def test_a_failing_endpoint_is_a_finding_not_an_exception(recorder: HttpRecorder) -> None:
    """A 503 is reported as not ok; HTTP errors are not retried (the answer is the finding)."""
    recorder.respond(503, "down")
    check = await probes(recorder.url).endpoint("api", Endpoint.DEEP)
    assert not check.ok and check.status == 503
    assert len(recorder.requests) == 1


async def test_an_unconfigured_service_says_so() -> None:
    """No URL for the service: the probe does not run and says why."""
    check = await probes(None).endpoint("api", Endpoint.HEALTH)
    assert check.url is None and not check.ok
    assert "no url in PLANTAO_CONFIG" in (check.error or "")


@pytest.fixture
def refusing_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: connections are refused


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (kernel backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_a_refused_connection_is_retried_then_reported(refusing_port: int) -> None:
    """Transport errors are retried a bounded number of times, then become the finding."""
    check = await probes(f"http://127.0.0.1:{refusing_port}", attempts=3).endpoint(
        "api", Endpoint.HEALTH
    )
    assert check.status is None and "ConnectError" in (check.error or "")


async def test_a_hanging_endpoint_times_out_within_the_bound(silent_server: str) -> None:
    """A server that never answers costs at most timeout x attempts (plus the retry wait)."""
    started = time.monotonic()
    check = await probes(silent_server, timeout_s=0.3, attempts=2).endpoint("api", Endpoint.HEALTH)
    elapsed = time.monotonic() - started
    assert check.status is None and "Timeout" in (check.error or "")
    assert elapsed < 0.3 * 2 + 0.2 + 1.0


# -- the other health endpoints ---------------------------------------------------------------


async def test_schema_circuits_and_frontend_go_to_their_urls(
    make_recorder: Callable[[], HttpRecorder],
) -> None:
    """schema and circuits use their paths on `url`; the frontend probe GETs frontend_url."""
    api, web = make_recorder(), make_recorder()
    config = ServiceConfig(url=api.url, frontend_url=web.url + "/app")
    p = with_config(config)
    assert (await p.endpoint("api", Endpoint.SCHEMA)).ok
    assert (await p.endpoint("api", Endpoint.CIRCUITS)).ok
    front = await p.endpoint("api", Endpoint.FRONTEND)
    assert front.ok and front.latency_ms is not None
    assert [r.path for r in api.requests] == ["/health/schema", "/health/circuits"]
    assert [r.path for r in web.requests] == ["/app"]


# -- Postgres ---------------------------------------------------------------------------------


async def test_database_counts_connections_and_idle_ones(
    scratch_dsn: str, connect: Connect
) -> None:
    """SELECT 1 answers, our 3 idle sessions count as idle once past the threshold, usage < 1."""
    for _ in range(3):
        await connect()
    await asyncio.sleep(1.2)
    p = with_config(ServiceConfig(database_url=scratch_dsn), idle_after=timedelta(seconds=1))
    db = await p.database("api")
    assert db.ran and db.reachable and db.error is None
    assert db.idle_over_5min == 3
    assert db.connections is not None and db.max_connections is not None
    assert 3 <= db.connections <= db.max_connections
    assert db.usage is not None and 0 < db.usage <= 1
    assert db.latency_ms is not None and db.latency_ms > 0
    assert db.oldest_connection_s is not None and db.oldest_connection_s >= 1.0


async def test_an_unreachable_database_is_a_finding(refusing_port: int) -> None:
    """A refused connection is reported as unreachable with the reason, never raised."""
    dsn = f"postgresql://postgres:pw@127.0.0.1:{refusing_port}/app"
    db = await with_config(ServiceConfig(database_url=dsn)).database("api")
    assert db.ran and not db.reachable
    assert "127.0.0.1" in (db.error or "") and "pw" not in (db.error or "")


async def test_a_service_without_database_url_is_not_probed() -> None:
    """No database_url: ran is False and the finding says what is missing."""
    db = await with_config(ServiceConfig(url="http://x.test")).database("api")
    assert not db.ran and "database_url" in (db.error or "")


# -- Redis ------------------------------------------------------------------------------------


async def test_redis_ping_answers_with_its_latency() -> None:
    """The machine's Redis answers PING; the target names host, port and database."""
    ping = await with_config(ServiceConfig(redis_url=REDIS_TEST_URL)).redis("api")
    assert ping.ok and ping.latency_ms is not None and ping.latency_ms > 0
    assert ping.target is not None and ping.target.startswith("127.0.0.1:6379")


async def test_redis_on_a_closed_port_fails_fast_without_leaking_the_password(
    refusing_port: int,
) -> None:
    """A closed port is a failed PING within the probe's bound; the password is not shown."""
    url = f"redis://:s3cret@127.0.0.1:{refusing_port}/0"
    started = time.monotonic()
    ping = await with_config(ServiceConfig(redis_url=url), timeout_s=0.5).redis("api")
    assert not ping.ok and ping.ran and ping.error
    assert time.monotonic() - started < 3.0
    assert "s3cret" not in f"{ping.target} {ping.error}"


# -- deployments ------------------------------------------------------------------------------


def railway_probes(railway: RailwayFake, store: Store | None = None) -> HttpProbes:
    config = PlantaoConfig(services={"api": ServiceConfig(**RAILWAY_IDS)})
    http = httpx.AsyncClient()
    client = RailwayClient(http, railway.url, railway.token, timeout_s=2.0, read_attempts=2)
    return HttpProbes(config, http, 1.0, 2, store=store, railway=client)


async def test_deploys_from_railway_name_the_last_and_the_last_successful(
    railway: RailwayFake,
) -> None:
    """The newest deployment, its status and age, and the earlier good one to roll back to."""
    good = railway.add_deployment("svc-api", "REMOVED", age=timedelta(hours=3))
    bad = railway.add_deployment("svc-api", "FAILED", age=timedelta(minutes=10))
    found = await railway_probes(railway).deploys("api")
    assert found.ran and found.source == "railway"
    assert (found.last_id, found.last_status) == (bad, "FAILED")
    assert found.last_success_id == good and found.rollback_to_id == good
    assert found.last_age_s is not None and 590 <= found.last_age_s <= 660


async def test_railway_failing_is_a_finding(railway: RailwayFake) -> None:
    """Railway answering 503 to every attempt gives a finding with the error, not an exception."""
    railway.fail(503, times=5)
    found = await railway_probes(railway).deploys("api")
    assert not found.ran and "503" in (found.error or "")


async def test_deploys_without_railway_come_from_the_webhook_reports(
    real_redis: ArqRedis,
) -> None:
    """No Railway token: the successful deploys Railway's webhooks reported are used."""
    now = datetime.now(UTC)
    older, newer = now - timedelta(hours=2), now - timedelta(minutes=20)
    await real_redis.zadd(
        f"{P}deploys:api",
        {"dep-a": older.timestamp() * 1000, "dep-b": newer.timestamp() * 1000},
    )
    p = HttpProbes(PlantaoConfig(), httpx.AsyncClient(), 1.0, 1, store=Store(real_redis))
    found = await p.deploys("api")
    assert found.source == "webhooks" and found.last_id == "dep-b"
    assert found.rollback_to_id == "dep-a"
    assert found.last_created_at is not None
    assert abs((found.last_created_at - newer).total_seconds()) < 1


# -- LLM provider -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, LlmVerdict.OK),
        (401, LlmVerdict.BAD_KEY),
        (429, LlmVerdict.RATE_LIMITED),
        (503, LlmVerdict.PROVIDER_DOWN),
        (404, LlmVerdict.UNEXPECTED),
    ],
)
async def test_llm_models_call_maps_the_status_to_a_verdict(
    recorder: HttpRecorder, status: int, verdict: LlmVerdict
) -> None:
    """The models list is asked with the configured key; its status decides the verdict."""
    recorder.respond(status, {"data": []})
    config = ServiceConfig(llm_models_url=recorder.url + "/v1/models", llm_api_key="sk-test-123")
    found = await with_config(config).llm("api")
    assert (found.verdict, found.status) == (verdict, status)
    (request,) = recorder.requests
    assert request.path == "/v1/models"
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert "sk-test-123" not in repr(found) + repr(config)


async def test_llm_unreachable_and_unconfigured_say_so(refusing_port: int) -> None:
    """A refused connection is `unreachable`; no URL or key is `not_configured`."""
    config = ServiceConfig(llm_models_url=f"http://127.0.0.1:{refusing_port}/", llm_api_key="k")
    assert (await with_config(config).llm("api")).verdict is LlmVerdict.UNREACHABLE
    bare = await with_config(ServiceConfig()).llm("api")
    assert bare.verdict is LlmVerdict.NOT_CONFIGURED and not bare.ran


# -- rollout status ---------------------------------------------------------------------------


async def test_rollout_status_reads_phase_and_error_rate(recorder: HttpRecorder) -> None:
    """currentPhase (lower-cased), metrics.errorRate and featureKey come from the status API,
    with the runbook's limit for the phase (beta 2 %) when [[rollouts]] does not set one."""
    recorder.respond(
        200, {"featureKey": "new_dashboard", "currentPhase": "Beta", "metrics": {"errorRate": 3.2}}
    )
    config = ServiceConfig(rollout_status_url=recorder.url + "/rollout/new_dashboard/status")
    found = await with_config(config).rollout("api")
    assert found.ran and (found.feature, found.phase, found.error_rate_pct) == (
        "new_dashboard",
        "beta",
        3.2,
    )
    assert found.max_error_rate_pct == 2.0
    assert "authorization" not in recorder.requests[0].headers  # no token configured


async def test_rollout_status_sends_the_token_and_reads_the_configured_limit(
    recorder: HttpRecorder,
) -> None:
    """`rollout_status_token` goes as a bearer token; the phase's limit is the [[rollouts]]
    entry's for the service (the watchdog judges by the same one)."""
    recorder.respond(200, {"currentPhase": "alpha", "metrics": {"errorRate": 6.0}})
    service = ServiceConfig(rollout_status_url=recorder.url, rollout_status_token="admin-token")
    config = PlantaoConfig(
        services={"api": service},
        rollouts=[RolloutConfig(service="api", max_error_rate_pct={"alpha": 7.5})],
    )
    found = await HttpProbes(config, httpx.AsyncClient(), 1.0, 1).rollout("api")
    assert (found.phase, found.error_rate_pct, found.max_error_rate_pct) == ("alpha", 6.0, 7.5)
    assert recorder.requests[0].headers["authorization"] == "Bearer admin-token"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [(200, {"phase": "beta"}, "unexpected answer"), (500, "boom", "HTTP 500")],
    ids=["wrong shape", "5xx"],
)
async def test_an_unreadable_rollout_status_is_a_finding(
    recorder: HttpRecorder, status: int, body: Any, error: str
) -> None:
    """A wrong shape or an error status is reported in `error`, with nothing guessed."""
    recorder.respond(status, body)
    found = await with_config(ServiceConfig(rollout_status_url=recorder.url)).rollout("api")
    assert not found.ran and found.phase is None and error in (found.error or "")
