"""Evidence bundles and database steps: secrets scrubbed, bundles kept for the runbook's retention,
and idle connections of the monitored (real) Postgres terminated by the executor."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import httpx
import pytest
from arq.connections import ArqRedis

from core.models import Scenario
from handlers.actions import CollectEvidence, TerminateIdleConnections
from handlers.types import Endpoint, HttpCheck, Policy, Step
from tests.support.executor import SERVICE, ScriptedProbes, make_executor, make_incident
from tests.support.executor import service_config as config_with
from tests.support.postgres import Connect, live_pids
from tests.support.railway_fake import RailwayFake
from worker import evidence
from worker.evidence import REDACTED, scrub, scrub_map
from worker.outcome import Code

SECRET = "hunter2-s3cr3t"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://app:{SECRET}@db.internal:5432/app",
        f"redis://default:{SECRET}@redis:6379/0",
        f"Authorization: Bearer {SECRET}abcdef",
        f'{{"password": "{SECRET}", "user": "app"}}',
        f"DATABASE_PASSWORD={SECRET} PORT=3000",
        f"api_key: '{SECRET}'",
        f"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{SECRET}",
        f"OPENAI_API_KEY is sk-{SECRET}0123456789",
    ],
)
def test_scrub_removes_anything_that_looks_like_a_credential(text: str) -> None:
    """Passwords in DSNs, bearer tokens, key=value secrets, JWTs and API keys are redacted."""
    cleaned = scrub(text)
    assert SECRET not in cleaned
    assert REDACTED in cleaned


def test_scrub_keeps_ordinary_text_and_dsn_hosts() -> None:
    """What is not a secret survives, including a DSN's user, host and database."""
    assert scrub("p95 1200 ms on /api/etps; 3 of 100 connections") == (
        "p95 1200 ms on /api/etps; 3 of 100 connections"
    )
    assert scrub(f"postgres://app:{SECRET}@db:5432/app") == f"postgres://app:{REDACTED}@db:5432/app"


def test_labels_under_secret_names_are_dropped_whole() -> None:
    """A label named like a credential loses its value; other labels are kept (scrubbed)."""
    labels = {"alertname": "PostgresDown", "db_password": "x", "x-auth-token": "y", "job": "api"}
    assert scrub_map(labels) == {
        "alertname": "PostgresDown",
        "db_password": REDACTED,
        "x-auth-token": REDACTED,
        "job": "api",
    }


async def test_collect_evidence_keeps_a_scrubbed_bundle_for_90_days(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """The bundle holds health bodies, deployments and labels, without secrets, for 90 days."""
    dep = railway.add_deployment("svc-api", "CRASHED")
    body = f'{{"status":"error","db":"postgres://app:{SECRET}@db/app"}}'
    probes = ScriptedProbes(
        deque([HttpCheck(Endpoint.HEALTH, "http://api.test/health", 500, 3.0, body=body)])
    )
    incident = make_incident(labels={"alertname": "ApiDown", "token": SECRET})
    step = Step(CollectEvidence(SERVICE), Policy.AUTO, "runbook 003 evidence")
    outcome = await make_executor(real_redis, railway, http, probes).run(incident, step)
    assert outcome.code is Code.EXECUTED and "90 days" in outcome.reason
    raw = await real_redis.get(evidence.key("7"))
    assert raw is not None and SECRET.encode() not in raw
    bundle = await evidence.load(real_redis, "7")
    assert bundle is not None
    assert [h.endpoint for h in bundle.health] == [Endpoint.HEALTH, Endpoint.READY, Endpoint.DEEP]
    assert "postgres://app:" in bundle.health[0].body
    assert [d.id for d in bundle.deployments] == [dep]
    assert bundle.labels == {"alertname": "ApiDown", "token": REDACTED}
    ttl = await real_redis.ttl(evidence.key("7"))
    assert 89 * 86400 < ttl <= 90 * 86400


async def test_security_breach_evidence_is_kept_for_a_year(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """Evidence of a security incident is kept one year (runbook 003 "Retenção")."""
    incident = make_incident(scenario=Scenario.SECURITY_BREACH)
    step = Step(CollectEvidence(SERVICE), Policy.AUTO, "004 S10 step 2")
    await make_executor(real_redis, railway, http).run(incident, step)
    assert await real_redis.ttl(evidence.key("7")) > 364 * 86400


async def test_evidence_notes_what_it_could_not_collect(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """An unreachable database and a failing Railway become gaps in the bundle, not a failure."""
    railway.fail(503, times=5)
    config = config_with(database_url=f"postgresql://app:{SECRET}@127.0.0.1:9/app")
    step = Step(CollectEvidence(SERVICE), Policy.AUTO, "evidence")
    outcome = await make_executor(real_redis, railway, http, config=config).run(
        make_incident(), step
    )
    bundle = await evidence.load(real_redis, "7")
    assert outcome.code is Code.EXECUTED and bundle is not None
    assert len(bundle.problems) == 2 and bundle.database is None
    assert SECRET not in " ".join(bundle.problems)


async def test_idle_connections_of_the_service_database_are_terminated(
    real_redis: ArqRedis,
    railway: RailwayFake,
    http: httpx.AsyncClient,
    scratch_dsn: str,
    connect: Connect,
) -> None:
    """TerminateIdleConnections ends the idle sessions of the service's database, not busy ones."""
    idle = [await connect() for _ in range(2)]
    busy = await connect()
    sleeping = asyncio.create_task(busy.fetchval("SELECT pg_sleep(2)"))
    await asyncio.sleep(0.3)
    step = Step(TerminateIdleConnections(SERVICE, idle_minutes=0), Policy.AUTO, "004 S2")
    executor = make_executor(
        real_redis, railway, http, config=config_with(database_url=scratch_dsn)
    )
    outcome = await executor.run(make_incident(), step)
    assert outcome.code is Code.EXECUTED
    assert "terminated 2 connection(s)" in outcome.reason
    idle_pids = [c.get_server_pid() for c in idle]
    left = await live_pids(scratch_dsn, wait_gone=idle_pids)
    assert busy.get_server_pid() in left and not left & set(idle_pids)
    assert await sleeping is None
    assert railway.calls == []


async def test_a_service_without_a_database_url_is_not_configured(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """Idle-connection termination needs the service's database_url in PLANTAO_CONFIG."""
    step = Step(TerminateIdleConnections(SERVICE, idle_minutes=5), Policy.AUTO, "004 S2")
    outcome = await make_executor(real_redis, railway, http).run(make_incident(), step)
    assert outcome.code is Code.NOT_CONFIGURED
