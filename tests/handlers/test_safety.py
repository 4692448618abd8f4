"""Rules every handler keeps, whatever its probes answer (SCENARIOS.md policies, STYLE.md)."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from typing import Any

import pytest

from core.models import Scenario
from handlers import HANDLERS
from handlers.actions import RestartService, RollbackDeploy
from handlers.types import Endpoint, HttpCheck, LlmVerdict, PingCheck, Step
from tests.handlers.conftest import (
    FakeProbes,
    MakeIncident,
    db_down,
    db_ok,
    deployed,
    failing,
    llm_says,
    ok,
    rollout_at,
    unreachable,
)

WORLDS: dict[str, dict[Endpoint, HttpCheck]] = {
    "all healthy": {e: ok(e) for e in Endpoint},
    "all failing": {e: failing(e, 503, body="CRITICAL") for e in Endpoint},
    "unreachable": {e: unreachable(e) for e in Endpoint},
    "not configured": {},
}
# The other probes in each world: healthy, or broken right after a deploy; else not configured.
OTHERS: dict[str, dict[str, Any]] = {
    "all healthy": {
        "db": db_ok(),
        "deployments": deployed(timedelta(days=2)),
        "ping": PingCheck("redis.test:6379", 0.3),
        "provider": llm_says(LlmVerdict.OK, 200),
        "staged": rollout_at("beta", 0.5),
    },
    "all failing": {
        "db": db_down(),
        "deployments": deployed(timedelta(minutes=5), "FAILED"),
        "ping": PingCheck("redis.test:6379", error="ConnectionError"),
        "provider": llm_says(LlmVerdict.BAD_KEY, 401),
        "staged": rollout_at("alpha", 9.0),
    },
}
RUNBOOK = re.compile(r"runbook 00[0-4]\b")


async def plan_in(make_incident: MakeIncident, scenario: Scenario, world: str) -> list[Step]:
    incident = make_incident(scenario)
    handler = HANDLERS[scenario]
    probes = FakeProbes(WORLDS[world], **OTHERS.get(world, {}))
    return handler.plan(incident, await handler.diagnose(incident, probes))


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
async def test_every_plan_says_something(
    make_incident: MakeIncident, scenario: Scenario, world: str
) -> None:
    """Every handler proposes at least one step, so an incident is never met with silence."""
    assert await plan_in(make_incident, scenario, world)


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
async def test_restarts_are_never_automatic(
    make_incident: MakeIncident, scenario: Scenario, world: str
) -> None:
    """No handler restarts a service without a human (catalogue: restarts are approve)."""
    steps = await plan_in(make_incident, scenario, world)
    assert all(s.policy != "auto" for s in steps if isinstance(s.action, RestartService))


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("scenario", [s for s in Scenario if s is not Scenario.UNKNOWN], ids=str)
async def test_every_step_cites_its_runbook_in_one_line(
    make_incident: MakeIncident, scenario: Scenario, world: str
) -> None:
    """Each step's reason is one line that names the runbook it comes from."""
    for step in await plan_in(make_incident, scenario, world):
        assert "\n" not in step.why and RUNBOOK.search(step.why), step.why


@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
async def test_findings_are_frozen_dataclasses(
    make_incident: MakeIncident, scenario: Scenario
) -> None:
    """Findings cannot be changed between diagnose and plan."""
    found = await HANDLERS[scenario].diagnose(make_incident(scenario), FakeProbes())
    params = getattr(type(found), "__dataclass_params__", None)
    assert dataclasses.is_dataclass(found) and params is not None and params.frozen


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
async def test_every_runnable_restart_or_rollback_says_how_to_verify_it(
    make_incident: MakeIncident, scenario: Scenario, world: str
) -> None:
    """A restart or rollback that may run names the health endpoint that proves it worked."""
    for step in await plan_in(make_incident, scenario, world):
        if isinstance(step.action, RestartService | RollbackDeploy) and step.policy != "never":
            assert step.verify is not None, (scenario, step)
