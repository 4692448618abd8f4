"""The executor's rollout actions (runbook 000 §9.7): refused as not_configured without a
rollout_action_url, else one POST to it, with the usual policy and dry-run guards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from arq.connections import ArqRedis

from handlers.actions import DisableFlag, RollbackRollout
from handlers.types import Policy, Step
from tests.support.executor import SERVICE, make_executor, make_incident, service_config
from tests.support.http_recorder import HttpRecorder
from tests.support.railway_fake import RailwayFake
from worker.outcome import Code, Status

BACK = Step(RollbackRollout(SERVICE), Policy.AUTO, "runbook 000 §9.7")
DISABLE = Step(DisableFlag(SERVICE, "new_dashboard"), Policy.APPROVE, "runbook 000 §9.7")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_rollout_actions_without_an_action_url_are_not_configured(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """With no rollout_action_url the step is refused with code not_configured, nothing sent."""
    executor = make_executor(real_redis, railway, http)
    outcome = await executor.run(make_incident(), BACK)
    assert (outcome.status, outcome.code) == (Status.REFUSED, Code.NOT_CONFIGURED)
    assert "rollout_action_url" in outcome.reason


async def test_rollback_rollout_posts_rollback_phase(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient, recorder: HttpRecorder
) -> None:
    """An AUTO RollbackRollout POSTs {"action": "rollback_phase"} to the configured URL once."""
    config = service_config(rollout_action_url=recorder.url + "/rollout/new_dashboard")
    executor = make_executor(real_redis, railway, http, config=config)
    outcome = await executor.run(make_incident(), BACK)
    assert (outcome.status, outcome.code) == (Status.DONE, Code.EXECUTED)
    (request,) = recorder.requests
    assert (request.method, request.path) == ("POST", "/rollout/new_dashboard")
    assert request.json == {"action": "rollback_phase"}


async def test_disable_flag_waits_for_approval_then_posts_disable(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient, recorder: HttpRecorder
) -> None:
    """DisableFlag is APPROVE: refused until approved, then POSTs {"action": "disable"}."""
    config = service_config(rollout_action_url=recorder.url)
    executor = make_executor(real_redis, railway, http, config=config)
    waiting = await executor.run(make_incident(), DISABLE)
    assert waiting.code is Code.NEEDS_APPROVAL and recorder.requests == []
    done = await executor.run(make_incident(), DISABLE, approved_by="U123")
    assert done.status is Status.DONE
    assert [r.json for r in recorder.requests] == [{"action": "disable", "flag": "new_dashboard"}]


async def test_a_refusing_rollout_api_fails_the_step(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient, recorder: HttpRecorder
) -> None:
    """A 400 from the rollout API (already in alpha) fails the step with the API's words."""
    recorder.respond(400, {"message": "Cannot rollback new_dashboard: already at alpha"})
    config = service_config(rollout_action_url=recorder.url)
    outcome = await make_executor(real_redis, railway, http, config=config).run(
        make_incident(), BACK
    )
    assert (outcome.status, outcome.code) == (Status.FAILED, Code.PLATFORM_REFUSED)
    assert "already at alpha" in outcome.reason


async def test_dry_run_sends_nothing_to_the_rollout_api(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient, recorder: HttpRecorder
) -> None:
    """With DRY_RUN on the rollout rollback is reported as would-run and nothing is POSTed."""
    config = service_config(rollout_action_url=recorder.url)
    executor = make_executor(real_redis, railway, http, config=config, dry_run=True)
    outcome = await executor.run(make_incident(), BACK)
    assert outcome.status is Status.DRY_RUN and recorder.requests == []
