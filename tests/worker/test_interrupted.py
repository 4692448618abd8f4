"""A step an earlier run left in flight (its worker SIGKILLed mid-rollback) that the re-run no
longer plans: settled with the platform and reported, never re-sent, never left in flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import get_args

import httpx
import pytest
from arq.connections import ArqRedis

from handlers.actions import (
    Action,
    Advise,
    CollectEvidence,
    DisableFlag,
    FreezeDeploys,
    HandOver,
    RedeployService,
    RestartService,
    RollbackDeploy,
    RollbackRollout,
    SetMaintenanceMode,
    TerminateIdleConnections,
)
from handlers.types import Endpoint, Policy, Step
from tests.support.executor import SERVICE, make_executor, make_incident
from tests.support.railway_fake import RailwayFake
from worker.checks import Timing
from worker.guards import ROLLBACK as ROLLBACK_KIND
from worker.guards import Guards
from worker.interrupted import settle_interrupted
from worker.ledger import Ledger, State, episode_key
from worker.outcome import Code, Status
from worker.step_codec import decode_step, encode_step

ROLLBACK = Step(RollbackDeploy(SERVICE), Policy.AUTO, "runbook 001 rule 2", Endpoint.DEEP)
ADVICE = [Step(Advise("watch the error rate"), Policy.AUTO, "001")]
SHORT_LEASE = Timing(lease_s=0.2, verify_timeout_s=0.3, verify_interval_s=0.05)
EVERY_ACTION: list[Action] = [
    RestartService(SERVICE),
    RollbackDeploy(SERVICE),
    RedeployService(SERVICE),
    SetMaintenanceMode(SERVICE, enabled=True),
    TerminateIdleConnections(SERVICE, idle_minutes=10),
    CollectEvidence(SERVICE),
    FreezeDeploys("a security incident"),
    RollbackRollout(SERVICE),
    DisableFlag(SERVICE, "new-editor"),
    HandOver(make_incident().scenario),
    Advise("look at the dashboard"),
]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def test_every_action_survives_its_json_form() -> None:
    """A Slack button and a step's record decode to the very step proposed, for every action
    (DisableFlag and RollbackRollout included)."""
    assert {type(a) for a in EVERY_ACTION} == set(get_args(Action))
    for action in EVERY_ACTION:
        step = Step(action, Policy.APPROVE, "why", Endpoint.HEALTH)
        assert decode_step(encode_step(step)) == step


async def _killed_mid_rollback(redis: ArqRedis, railway: RailwayFake, reopened: int = 0) -> str:
    """The record, and the budget spent, of a worker that died after sending the rollback."""
    railway.add_deployment("svc-api", "REMOVED", age=timedelta(hours=3))
    current = railway.add_deployment("svc-api", "SUCCESS", age=timedelta(minutes=10))
    incident = make_incident(reopened=reopened)
    key = Ledger.key(incident.id, episode_key(incident, ROLLBACK.action))
    ledger = Ledger(redis)
    assert await ledger.claim(key, "dead-worker", SERVICE, encode_step(ROLLBACK))
    assert await ledger.advance(key, "dead-worker", State.INTENT, State.IN_FLIGHT, baseline=current)
    assert (await Guards(redis).spend(ROLLBACK_KIND, SERVICE, "dead-worker")).allowed
    return key


async def test_a_rollback_the_killed_attempt_sent_is_reconciled_and_reported(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    key = await _killed_mid_rollback(real_redis, railway)
    railway.add_deployment("svc-api", "SUCCESS", age=timedelta(seconds=5))  # it took effect
    executor = make_executor(real_redis, railway, http)
    [outcome] = await settle_interrupted(executor, make_incident(), ADVICE)
    assert (outcome.status, outcome.code, outcome.verified) == (
        Status.DONE,
        Code.RECONCILED,
        True,
    )
    assert "roll back" in outcome.line()
    record = await Ledger(real_redis).get(key)
    assert record is not None and record.state is State.DONE
    assert railway.mutations() == []  # settled by asking, never sent again
    timeline = [e.event for e in await executor.c.store.timeline("7")]
    assert "step.done" in timeline
    assert await settle_interrupted(executor, make_incident(), ADVICE) == []  # settled once


async def test_one_that_never_took_effect_is_not_run_and_frees_its_budget(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    key = await _killed_mid_rollback(real_redis, railway)
    executor = make_executor(real_redis, railway, http, timing=SHORT_LEASE)
    await asyncio.sleep(0.3)  # the dead attempt's lease ran out
    [outcome] = await settle_interrupted(executor, make_incident(), ADVICE)
    assert (outcome.status, outcome.code) == (Status.REFUSED, Code.INTERRUPTED)
    assert await Ledger(real_redis).get(key) is None  # the step is free again
    assert railway.mutations() == []
    guards = Guards(real_redis)
    assert [(await guards.spend(ROLLBACK_KIND, SERVICE, t)).allowed for t in "abc"] == [
        True,
        True,
        False,  # 2 per 30 min: the dead attempt's spend was given back
    ]


async def test_while_the_attempt_may_live_and_railway_shows_nothing_the_job_waits(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    await _killed_mid_rollback(real_redis, railway)
    executor = make_executor(real_redis, railway, http)  # a 60 s lease
    [outcome] = await settle_interrupted(executor, make_incident(), ADVICE)
    assert (outcome.status, outcome.code) == (Status.RETRY, Code.IN_FLIGHT)
    assert outcome.retry_after_s is not None and 50 < outcome.retry_after_s <= 60


async def test_a_step_planned_again_or_of_an_earlier_opening_is_left_alone(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    key = await _killed_mid_rollback(real_redis, railway)
    executor = make_executor(real_redis, railway, http)
    assert await settle_interrupted(executor, make_incident(), [ROLLBACK]) == []
    assert await settle_interrupted(executor, make_incident(reopened=1), ADVICE) == []
    record = await Ledger(real_redis).get(key)
    assert record is not None and record.state is State.IN_FLIGHT
