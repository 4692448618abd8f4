"""The executor's guards and actions: dry-run, pause, policies, cooldown, freeze, unsigned
confirmation, configuration, and what each action does, on real Redis and the Railway fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from arq.connections import ArqRedis

from core.models import Scenario
from core.store import Store
from handlers.actions import (
    Advise,
    FreezeDeploys,
    HandOver,
    RedeployService,
    RestartService,
    RollbackDeploy,
    SetMaintenanceMode,
)
from handlers.types import Endpoint, Policy, Step
from tests.support.executor import (
    SERVICE,
    ScriptedProbes,
    make_executor,
    make_incident,
    service_config,
)
from tests.support.railway_fake import RailwayFake
from worker.guards import Guards
from worker.outcome import Code, Status

ROLLBACK = Step(RollbackDeploy(SERVICE), Policy.AUTO, "runbook 001 rule 2")
RESTART = Step(RestartService(SERVICE), Policy.AUTO, "runbook 004 S1")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def history(railway: RailwayFake) -> tuple[str, str]:
    """An earlier good deployment (replaced, so REMOVED) and the current broken one."""
    good = railway.add_deployment("svc-api", "REMOVED", age=timedelta(hours=3))
    bad = railway.add_deployment("svc-api", "SUCCESS", age=timedelta(minutes=10))
    return good, bad


async def events(redis: ArqRedis, incident_id: str = "7") -> list[tuple[str, str, str]]:
    return [(e.actor, e.event, e.detail) for e in await Store(redis).timeline(incident_id)]


async def test_dry_run_reports_what_would_run_and_changes_nothing(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """With DRY_RUN on (the default) a step that passes every guard is recorded, not run."""
    history(railway)
    executor = make_executor(real_redis, railway, http, dry_run=True)
    outcome = await executor.run(make_incident(), ROLLBACK)
    assert (outcome.status, outcome.code) == (Status.DRY_RUN, Code.DRY_RUN)
    assert "would have run it" in outcome.reason
    assert railway.mutations() == []
    assert [(e, "[dry_run]" in d) for _, e, d in await events(real_redis)] == [
        ("step.dry_run", True)
    ]


async def test_pause_refuses_with_who_and_why_until_resumed(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """While paused a step is refused naming who paused and why; after resume the same step runs."""
    history(railway)
    executor = make_executor(real_redis, railway, http)
    await Guards(real_redis).pause("DB migration in progress", by="ana")
    refused = await executor.run(make_incident(), ROLLBACK)
    assert (refused.status, refused.code) == (Status.REFUSED, Code.PAUSED)
    assert "ana" in refused.reason and "DB migration in progress" in refused.reason
    assert railway.mutations() == []
    await Guards(real_redis).resume(by="ana")
    assert (await executor.run(make_incident(), ROLLBACK)).code is Code.EXECUTED
    assert len(railway.mutations("deploymentRollback")) == 1


async def test_auto_rollback_goes_to_the_previous_successful_deployment(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """An AUTO rollback runs at once and targets the newest earlier deployment that had run."""
    good, bad = history(railway)
    railway.add_deployment("svc-api", "FAILED", age=timedelta(hours=1))  # a failed build between
    outcome = await make_executor(real_redis, railway, http).run(make_incident(), ROLLBACK)
    assert (outcome.status, outcome.code) == (Status.DONE, Code.EXECUTED)
    assert [c.variables["id"] for c in railway.mutations()] == [good]
    assert f"from {bad} to {good}" in outcome.reason
    assert ("plantao", "step.done") in [(a, e) for a, e, _ in await events(real_redis)]


async def test_never_policy_is_refused_with_the_steps_reason_even_if_approved(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A NEVER step is refused with its own why, whoever approves it."""
    history(railway)
    step = Step(RollbackDeploy(SERVICE), Policy.NEVER, "never roll back: destroys evidence")
    outcome = await make_executor(real_redis, railway, http).run(
        make_incident(), step, approved_by="ana"
    )
    assert (outcome.status, outcome.code) == (Status.REFUSED, Code.POLICY_NEVER)
    assert "destroys evidence" in outcome.reason
    assert railway.mutations() == []


async def test_approve_policy_waits_for_a_responder_then_runs_in_their_name(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """An APPROVE step is refused without an approver and runs once one approves it."""
    history(railway)
    executor = make_executor(real_redis, railway, http)
    step = Step(RestartService(SERVICE), Policy.APPROVE, "runbook 004 S1")
    waiting = await executor.run(make_incident(), step)
    assert (waiting.status, waiting.code) == (Status.REFUSED, Code.NEEDS_APPROVAL)
    assert railway.mutations() == []
    done = await executor.run(make_incident(), step, approved_by="ana")
    assert done.code is Code.EXECUTED and "approved by ana" in done.reason
    assert len(railway.mutations("deploymentRestart")) == 1
    assert ("ana", "step.done") in [(a, e) for a, e, _ in await events(real_redis)]


async def test_a_third_restart_inside_30_minutes_is_refused_by_the_budget(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """004 S4: two restarts of a service per 30 minutes, across incidents; the third waits."""
    railway.add_deployment("svc-api", "CRASHED")
    executor = make_executor(real_redis, railway, http)
    codes = [(await executor.run(make_incident(str(i)), RESTART)).code for i in (1, 2)]
    third = await executor.run(make_incident("3"), RESTART)
    assert codes == [Code.EXECUTED, Code.EXECUTED]
    assert (third.status, third.code) == (Status.REFUSED, Code.COOLDOWN)
    assert third.retry_after_s is not None and third.retry_after_s > 29 * 60
    assert len(railway.mutations("deploymentRestart")) == 2


async def test_frozen_deploys_refuse_deploy_actions_only(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """During a deploy freeze rollback, restart and redeploy are refused; maintenance mode runs."""
    history(railway)
    await Guards(real_redis).freeze("security breach suspected", by="incident 1")
    executor = make_executor(real_redis, railway, http)
    steps = [ROLLBACK, RESTART, Step(RedeployService(SERVICE), Policy.AUTO, "why")]
    codes = [(await executor.run(make_incident(), s)).code for s in steps]
    assert codes == [Code.DEPLOYS_FROZEN] * 3
    maintenance = Step(SetMaintenanceMode(SERVICE, enabled=True), Policy.AUTO, "002 §5")
    assert (await executor.run(make_incident(), maintenance)).code is Code.EXECUTED
    assert [c.field for c in railway.mutations()] == ["variableUpsert"]


async def test_freeze_deploys_step_sets_the_freeze_for_every_worker(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A FreezeDeploys step turns the freeze on, naming the incident, and later rollbacks wait."""
    history(railway)
    executor = make_executor(real_redis, railway, http)
    freeze = Step(FreezeDeploys("data leak"), Policy.AUTO, "runbook 002 §5")
    assert (await executor.run(make_incident(), freeze)).code is Code.EXECUTED
    frozen = await Guards(real_redis).frozen()
    assert frozen is not None and (frozen.reason, frozen.by) == ("data leak", "incident 7")
    assert (await executor.run(make_incident("8"), ROLLBACK)).code is Code.DEPLOYS_FROZEN


async def test_unsigned_incident_acts_when_railway_confirms_the_crash(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """An unsigned alert naming a deployment Railway reports CRASHED is confirmed and acted on."""
    crashed = railway.add_deployment("svc-api", "CRASHED")
    incident = make_incident(unsigned=True, labels={"deployment": crashed})
    outcome = await make_executor(real_redis, railway, http).run(incident, RESTART)
    assert outcome.code is Code.EXECUTED
    assert [c.variables["id"] for c in railway.mutations()] == [crashed]


@pytest.mark.parametrize("named", ["healthy", "unknown"])
async def test_unsigned_incident_is_refused_when_railway_does_not_confirm(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient, named: str
) -> None:
    """An unsigned alert on a deployment Railway calls healthy, or does not know, does nothing."""
    history(railway)
    healthy = railway.deployments_of("svc-api")[0].id
    incident = make_incident(
        unsigned=True, labels={"deployment": healthy if named == "healthy" else "dep-forged"}
    )
    outcome = await make_executor(real_redis, railway, http).run(incident, ROLLBACK)
    assert (outcome.status, outcome.code) == (Status.REFUSED, Code.UNCONFIRMED)
    assert railway.mutations() == []


async def test_unsigned_incident_without_a_named_deployment_checks_the_newest(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """With no deployment named, Railway's newest deployment must be failed or crashed."""
    history(railway)
    outcome = await make_executor(real_redis, railway, http).run(
        make_incident(unsigned=True), ROLLBACK
    )
    assert outcome.code is Code.UNCONFIRMED and "SUCCESS" in outcome.reason


async def test_a_signed_incident_needs_no_confirmation(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A signed alert's rollback runs without asking Railway to confirm the deployment failed."""
    history(railway)
    outcome = await make_executor(real_redis, railway, http).run(make_incident(), ROLLBACK)
    assert outcome.code is Code.EXECUTED


@pytest.mark.parametrize("missing", ["ids", "token"])
async def test_a_service_without_railway_settings_is_not_configured(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient, missing: str
) -> None:
    """Without the service's Railway ids, or without RAILWAY_API_TOKEN, deploy steps are refused."""
    if missing == "ids":
        config = service_config(railway_service_id=None)
        executor = make_executor(real_redis, railway, http, config=config)
    else:
        executor = make_executor(real_redis, railway, http, railway_api_token=None)
    outcome = await executor.run(make_incident(), ROLLBACK)
    assert (outcome.status, outcome.code) == (Status.REFUSED, Code.NOT_CONFIGURED)
    assert railway.calls == []


async def test_no_earlier_deployment_means_no_target_and_no_record_kept(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A rollback with nothing to roll back to is refused, and stays runnable once there is."""
    railway.add_deployment("svc-api", "SUCCESS")
    executor = make_executor(real_redis, railway, http)
    first = await executor.run(make_incident(), ROLLBACK)
    assert (first.status, first.code) == (Status.REFUSED, Code.NO_TARGET)
    railway.add_deployment("svc-api", "FAILED")
    assert (await executor.run(make_incident(), ROLLBACK)).code is Code.EXECUTED


async def test_maintenance_mode_sets_the_variable_on_the_service(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """SetMaintenanceMode upserts MAINTENANCE_MODE=true for the service on Railway."""
    step = Step(SetMaintenanceMode(SERVICE, enabled=True), Policy.AUTO, "runbook 002 §5")
    outcome = await make_executor(real_redis, railway, http).run(make_incident(), step)
    assert outcome.code is Code.EXECUTED
    assert railway.variables[("proj-1", "env-prod", "svc-api")] == {"MAINTENANCE_MODE": "true"}


async def test_redeploy_makes_a_new_deployment_of_the_running_one(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """RedeployService redeploys the newest running deployment."""
    _, current = history(railway)
    step = Step(RedeployService(SERVICE), Policy.AUTO, "apply variables")
    outcome = await make_executor(real_redis, railway, http).run(make_incident(), step)
    assert outcome.code is Code.EXECUTED
    assert [c.variables["id"] for c in railway.mutations("deploymentRedeploy")] == [current]


async def test_handover_and_advise_are_recorded_once_even_in_dry_run_or_paused(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """Record-only steps touch nothing, so pause and dry-run let them through; once per incident."""
    await Guards(real_redis).pause("quiet", by="ana")
    executor = make_executor(real_redis, railway, http, dry_run=True)
    steps = [
        Step(HandOver(Scenario.API_HIGH_LATENCY), Policy.AUTO, "pool full"),
        Step(Advise("call the DPO"), Policy.AUTO, "runbook 004 S10"),
    ]
    first = [(await executor.run(make_incident(), s)).code for s in steps]
    again = [(await executor.run(make_incident(), s)).code for s in steps]
    assert first == [Code.RECORDED, Code.RECORDED]
    assert again == [Code.ALREADY_DONE, Code.ALREADY_DONE]
    assert railway.calls == []


async def test_a_step_on_no_service_verifies_the_incidents_service(
    real_redis: ArqRedis, railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A verify endpoint on a step without a service (a freeze) re-probes the incident's service."""
    probes = ScriptedProbes()
    step = Step(FreezeDeploys("leak"), Policy.AUTO, "002 §5", Endpoint.HEALTH)
    outcome = await make_executor(real_redis, railway, http, probes).run(make_incident(), step)
    assert (outcome.code, outcome.verified) == (Code.EXECUTED, True)
    assert probes.calls == [(SERVICE, Endpoint.HEALTH)]
