"""Effectively once, and verified: re-runs, duplicates, racing workers, a worker SIGKILLed in the
middle of a Railway call, platform failures, and the re-probe after an action."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import deque
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from arq.connections import ArqRedis

from core.store import Store
from handlers.actions import RestartService, RollbackDeploy
from handlers.types import Endpoint, Policy, Step
from tests.support.executor import (
    FAST,
    SERVICE,
    ScriptedProbes,
    failing,
    make_executor,
    make_incident,
    ok,
    spec_for_subprocess,
)
from tests.support.processes import spawn
from tests.support.railway_fake import RailwayFake
from worker.checks import Timing
from worker.guards import ROLLBACK as ROLLBACK_KIND
from worker.guards import Guards
from worker.ledger import Ledger, State, step_key
from worker.outcome import Code, Status

ROLLBACK = Step(RollbackDeploy(SERVICE), Policy.AUTO, "runbook 001 rule 2")
VERIFIED_ROLLBACK = Step(RollbackDeploy(SERVICE), Policy.AUTO, "001 rule 2", Endpoint.DEEP)
RESTART = Step(RestartService(SERVICE), Policy.AUTO, "runbook 004 S1")
RECORD = Ledger.key("7", step_key(RollbackDeploy(SERVICE)))
SHORT_LEASE = Timing(lease_s=0.2, verify_timeout_s=0.3, verify_interval_s=0.05)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def url_of(redis: ArqRedis) -> str:
    """The URL of the database the `real_redis` fixture chose, for a subprocess to share it."""
    kw = redis.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def history(railway: RailwayFake) -> tuple[str, str]:
    good = railway.add_deployment("svc-api", "REMOVED", age=timedelta(hours=3))
    bad = railway.add_deployment("svc-api", "SUCCESS", age=timedelta(minutes=10))
    return good, bad


async def crashed_attempt(redis: ArqRedis, state: State, baseline: str, key: str = RECORD) -> None:
    """The record a worker leaves when it dies in `state` (intent, or in flight)."""
    ledger = Ledger(redis)
    assert await ledger.claim(key, "dead-worker", SERVICE)
    if state is State.IN_FLIGHT:
        assert await ledger.advance(
            key, "dead-worker", State.INTENT, State.IN_FLIGHT, baseline=baseline
        )


async def test_a_step_runs_once_however_often_it_is_asked(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """Re-running a done step (a replayed job, a duplicate) says already_done and sends nothing."""
    history(railway)
    executor = make_executor(real_redis, railway, http)
    first = await executor.run(make_incident(), ROLLBACK)
    again = [await executor.run(make_incident(), ROLLBACK) for _ in range(3)]
    assert first.code is Code.EXECUTED
    assert {(o.status, o.code) for o in again} == {(Status.REFUSED, Code.ALREADY_DONE)}
    assert len(railway.mutations()) == 1
    record = await Ledger(real_redis).get(RECORD)
    assert record is not None and record.state is State.DONE


async def test_racing_workers_perform_the_action_once(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """Five workers handed the same step at the same moment send one rollback between them."""
    history(railway)
    railway.delay(0.3, field="deploymentRollback")  # keep the winner in flight while others look
    executors = [make_executor(real_redis, railway, http) for _ in range(5)]
    outcomes = await asyncio.gather(*(e.run(make_incident(), ROLLBACK) for e in executors))
    assert sorted(o.code for o in outcomes).count(Code.EXECUTED) == 1
    assert {o.code for o in outcomes} <= {Code.EXECUTED, Code.IN_FLIGHT, Code.ALREADY_DONE}
    assert len(railway.mutations("deploymentRollback")) == 1


async def test_a_worker_killed_mid_rollback_is_reconciled_never_repeated(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A worker SIGKILLed while Railway holds its rollback leaves it in flight; the next run waits
    while Railway shows nothing, then finds the rollback done and never sends it again."""
    history(railway)
    gate = railway.hold("deploymentRollback")
    spec = spec_for_subprocess(url_of(real_redis), railway, make_incident(), "rollback")
    worker = spawn([sys.executable, "-m", "tests.support.execute_once", json.dumps(spec)], {})
    try:
        assert await asyncio.to_thread(gate.received.wait, 30), worker.output()
        record = await Ledger(real_redis).get(RECORD)
        assert record is not None and record.state is State.IN_FLIGHT
        assert worker.kill() == -9
    finally:
        worker.kill()
    executor = make_executor(real_redis, railway, http, ScriptedProbes())
    waiting = await executor.run(make_incident(), VERIFIED_ROLLBACK)
    assert (waiting.status, waiting.code) == (Status.RETRY, Code.IN_FLIGHT)
    gate.release()  # Railway carries out the request the dead worker sent
    assert await asyncio.to_thread(gate.applied.wait, 10)
    settled = await executor.run(make_incident(), VERIFIED_ROLLBACK)
    assert (settled.status, settled.code, settled.verified) == (Status.DONE, Code.RECONCILED, True)
    assert len(railway.mutations("deploymentRollback")) == 1
    again = await executor.run(make_incident(), VERIFIED_ROLLBACK)
    assert again.code is Code.ALREADY_DONE
    assert len(railway.mutations("deploymentRollback")) == 1
    assert "running" in worker.output() and '"code"' not in worker.output()


async def test_a_timed_out_rollback_that_happened_is_not_sent_again(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A rollback that times out on our side but succeeds on Railway is found done on the retry."""
    history(railway)
    railway.delay(0.6, field="deploymentRollback")
    timing = Timing(railway_timeout_s=0.2, lease_s=60, verify_timeout_s=0.1)
    executor = make_executor(real_redis, railway, http, timing=timing)
    first = await executor.run(make_incident(), ROLLBACK)
    assert (first.status, first.code) == (Status.RETRY, Code.PLATFORM_UNAVAILABLE)
    assert first.retry_after_s is not None and first.retry_after_s >= 1
    await asyncio.sleep(0.6)  # Railway finishes the rollback after we gave up waiting
    second = await executor.run(make_incident(), ROLLBACK)
    assert (second.status, second.code) == (Status.DONE, Code.RECONCILED)
    assert len(railway.mutations("deploymentRollback")) == 1


async def test_an_attempt_that_never_reached_railway_runs_once_after_its_lease(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """In flight with no trace on Railway: wait while the lease runs, then run it exactly once."""
    _, current = history(railway)
    await crashed_attempt(real_redis, State.IN_FLIGHT, baseline=current)
    young = await make_executor(real_redis, railway, http).run(make_incident(), ROLLBACK)
    assert (young.status, young.code) == (Status.RETRY, Code.IN_FLIGHT)
    assert railway.mutations() == []
    await asyncio.sleep(0.3)
    executor = make_executor(real_redis, railway, http, timing=SHORT_LEASE)
    taken = await executor.run(make_incident(), ROLLBACK)
    assert taken.code is Code.EXECUTED
    assert len(railway.mutations()) == 1
    record = await Ledger(real_redis).get(RECORD)
    assert record is not None and (record.state, record.attempt) == (State.DONE, 2)


async def test_an_attempt_dead_before_its_side_effect_is_taken_over(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A record left in `intent` (nothing sent) blocks others for the lease, then is run once."""
    history(railway)
    await crashed_attempt(real_redis, State.INTENT, baseline="")
    await asyncio.sleep(0.3)
    executor = make_executor(real_redis, railway, http, timing=SHORT_LEASE)
    assert (await executor.run(make_incident(), ROLLBACK)).code is Code.EXECUTED
    assert len(railway.mutations()) == 1


async def test_a_restart_interrupted_in_flight_is_escalated_not_repeated(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """Railway keeps no trace of restarts, so a crashed one is reported unknown, never re-sent."""
    dep = railway.add_deployment("svc-api", "CRASHED")
    key = Ledger.key("7", step_key(RestartService(SERVICE)))
    await crashed_attempt(real_redis, State.IN_FLIGHT, baseline=dep, key=key)
    await asyncio.sleep(0.3)
    executor = make_executor(real_redis, railway, http, timing=SHORT_LEASE)
    outcome = await executor.run(make_incident(), RESTART)
    assert (outcome.status, outcome.code, outcome.escalate) == (
        Status.FAILED,
        Code.UNKNOWN_STATE,
        True,
    )
    assert (await executor.run(make_incident(), RESTART)).code is Code.ALREADY_FAILED
    assert railway.mutations() == []


async def test_a_5xx_on_the_rollback_keeps_it_in_flight_until_railway_is_asked(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A 503 may hide a rollback that happened: it stays in flight, and after the lease, with
    nothing new on Railway, it is sent once more (two requests, one rollback, one budget slot)."""
    history(railway)
    railway.fail(503, field="deploymentRollback")
    executor = make_executor(real_redis, railway, http, timing=SHORT_LEASE)
    first = await executor.run(make_incident(), ROLLBACK)
    assert (first.status, first.code) == (Status.RETRY, Code.PLATFORM_UNAVAILABLE)
    record = await Ledger(real_redis).get(RECORD)
    assert record is not None and record.state is State.IN_FLIGHT
    await asyncio.sleep(0.3)
    assert (await executor.run(make_incident(), ROLLBACK)).code is Code.EXECUTED
    assert len(railway.mutations("deploymentRollback")) == 2
    made = [d for d in railway.deployments_of("svc-api") if d.origin.startswith("rollback")]
    assert len(made) == 1
    assert (await Guards(real_redis).budget(ROLLBACK_KIND, SERVICE)).used == 1  # one rollback


async def test_a_refused_rollback_fails_escalates_and_refunds_its_budget(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A GraphQL error on the rollback fails the step for good and gives back its budget."""
    history(railway)
    railway.graphql_error("Cannot rollback to this deployment", field="deploymentRollback")
    executor = make_executor(real_redis, railway, http)
    failed = await executor.run(make_incident(), ROLLBACK)
    assert (failed.status, failed.code, failed.escalate) == (
        Status.FAILED,
        Code.PLATFORM_REFUSED,
        True,
    )
    assert (await executor.run(make_incident(), ROLLBACK)).code is Code.ALREADY_FAILED
    assert len(railway.mutations()) == 1
    assert (await Guards(real_redis).budget(ROLLBACK_KIND, SERVICE)).used == 0


async def test_the_action_is_verified_by_re_probing(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """After the rollback /health/deep is probed until it passes: verified, no escalation."""
    history(railway)
    probes = ScriptedProbes(deque([failing(), failing(), ok()]))
    outcome = await make_executor(real_redis, railway, http, probes).run(
        make_incident(), VERIFIED_ROLLBACK
    )
    assert (outcome.code, outcome.verified, outcome.escalate) == (Code.EXECUTED, True, False)
    assert probes.calls == [(SERVICE, Endpoint.DEEP)] * 3
    events = [e.event for e in await Store(real_redis).timeline("7")]
    assert events == ["step.done", "step.verified"]


async def test_an_unverified_action_escalates_and_is_not_retried(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """When the re-probe keeps failing the outcome escalates; a re-run does not roll back again."""
    history(railway)
    probes = ScriptedProbes(deque([failing()]))
    executor = make_executor(real_redis, railway, http, probes, timing=FAST)
    outcome = await executor.run(make_incident(), VERIFIED_ROLLBACK)
    assert (outcome.status, outcome.verified, outcome.escalate) == (Status.DONE, False, True)
    again = await executor.run(make_incident(), VERIFIED_ROLLBACK)
    assert (again.code, again.verified) == (Code.ALREADY_DONE, False)
    assert len(railway.mutations()) == 1
