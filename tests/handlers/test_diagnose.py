"""diagnose(): which endpoints each handler probes, and what it reads from their answers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import Scenario
from handlers import (
    HANDLERS,
    api_down,
    auth_broken,
    database_down,
    environment_mismatch,
    llm_provider_failure,
    llm_rate_limited,
)
from handlers.actions import RestartService
from handlers.probing import check, healthy, mentions
from handlers.types import Endpoint, HttpCheck, Policy
from tests.handlers.conftest import (
    SERVICE,
    T0,
    FakeProbes,
    MakeIncident,
    failing,
    ok,
    unprobed,
    unreachable,
)

H, R, D = Endpoint.HEALTH, Endpoint.READY, Endpoint.DEEP

# Read off the catalogue's diagnosis column; every other scenario takes /health as context.
ENDPOINTS = {
    Scenario.DATABASE_DOWN: [H, R],
    Scenario.API_DOWN: [H, R],
    Scenario.DEPENDENCY_DOWN: [R],
    Scenario.DEPLOY_FAILED: [D],
    Scenario.ENVIRONMENT_MISMATCH: [D],
    Scenario.MIGRATION_MISSING: [D],
    Scenario.DATA_CORRUPTION: [D],
}


@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
async def test_diagnose_probes_the_catalogue_endpoints_of_the_service(
    make_incident: MakeIncident, scenario: Scenario
) -> None:
    """Each handler asks its catalogue endpoints, once each, about the incident's service only."""
    probes = FakeProbes()
    await HANDLERS[scenario].diagnose(make_incident(scenario, service="julia-api"), probes)
    assert probes.calls == [("julia-api", e) for e in ENDPOINTS.get(scenario, [H])]


async def test_api_down_keeps_both_answers(make_incident: MakeIncident) -> None:
    """api_down stores the /health and /health/ready answers it got, as they came."""
    probes = FakeProbes({H: unreachable(H), R: failing(R)})
    found = await api_down.diagnose(make_incident(Scenario.API_DOWN), probes)
    assert found == api_down.Findings(health=unreachable(H), ready=failing(R))


async def test_probe_that_cannot_run_still_yields_a_plan(make_incident: MakeIncident) -> None:
    """An unconfigured service is diagnosed as 'not probed' and the restart is still proposed."""
    incident = make_incident(Scenario.DATABASE_DOWN)
    found = await database_down.diagnose(incident, FakeProbes())
    assert found.health == unprobed(H) and not found.health.ran
    steps = database_down.plan(incident, found)
    assert (steps[0].action, steps[0].policy) == (RestartService(SERVICE), Policy.APPROVE)


@pytest.mark.parametrize(
    ("summary", "ready_body", "expected"),
    [
        ("FATAL: sorry, too many connections for role app", "", True),
        ("PostgresDown", '{"database":"error: max connections reached"}', True),
        ("connection refused", '{"database":"down"}', False),
    ],
)
async def test_database_down_spots_a_full_pool(
    make_incident: MakeIncident, summary: str, ready_body: str, expected: bool
) -> None:
    """A full pool is read from the alert summary or a health body, in any case."""
    probes = FakeProbes({H: failing(H, 500), R: failing(R, body=ready_body)})
    found = await database_down.diagnose(
        make_incident(Scenario.DATABASE_DOWN, summary=summary), probes
    )
    assert found.pool_full is expected


@pytest.mark.parametrize(
    ("deep", "expected"),
    [
        (failing(D, body='{"status":"CRITICAL","environment":"staging"}'), True),
        (failing(D, body='{"critical_tables":"missing","redis":"ok"}'), False),
        (ok(D, body='{"critical_tables":"ok"}'), False),
        (unprobed(D), False),
    ],
    ids=["CRITICAL", "lower-case critical", "healthy", "not probed"],
)
async def test_environment_mismatch_reads_critical_from_the_deep_body(
    make_incident: MakeIncident, deep: HttpCheck, expected: bool
) -> None:
    """Only the upper-case CRITICAL verdict of /health/deep counts as a wrong environment."""
    probes = FakeProbes({D: deep})
    found = await environment_mismatch.diagnose(
        make_incident(Scenario.ENVIRONMENT_MISMATCH), probes
    )
    assert found.wrong_environment is expected


async def test_llm_provider_failure_reads_the_alert(make_incident: MakeIncident) -> None:
    """A 401 in the alert means a rejected key; first-to-last seen is how long it has failed."""
    incident = make_incident(
        Scenario.LLM_PROVIDER_FAILURE,
        summary="AuthenticationError: Error code: 401 - Incorrect API key provided",
        last_seen=T0 + timedelta(hours=3),
    )
    found = await llm_provider_failure.diagnose(incident, FakeProbes({H: ok(H)}))
    assert found.key_rejected and found.failing_for == timedelta(hours=3)


async def test_llm_rate_limited_counts_the_incident_alerts(make_incident: MakeIncident) -> None:
    """The 429 count and its time span come from the incident's grouped alerts."""
    incident = make_incident(
        Scenario.LLM_RATE_LIMITED, alert_count=5, last_seen=T0 + timedelta(hours=6)
    )
    found = await llm_rate_limited.diagnose(incident, FakeProbes())
    assert (found.alerts, found.span) == (5, timedelta(hours=6))


@pytest.mark.parametrize(
    ("summary", "expected"),
    [("JsonWebTokenError: invalid signature", True), ("login returned 500", False)],
)
async def test_auth_broken_spots_a_changed_secret(
    make_incident: MakeIncident, summary: str, expected: bool
) -> None:
    """A JWT signature error in the alert points at a changed JWT_SECRET."""
    found = await auth_broken.diagnose(
        make_incident(Scenario.AUTH_BROKEN, summary=summary), FakeProbes()
    )
    assert found.signature_error is expected


async def test_check_answers_in_the_order_asked(make_incident: MakeIncident) -> None:
    """check() returns one answer per endpoint, in the order the handler listed them."""
    probes = FakeProbes({H: ok(H), R: failing(R), D: unreachable(D)})
    answers = await check(make_incident(), probes, D, H, R)
    assert answers == [unreachable(D), ok(H), failing(R)]


def test_healthy_needs_every_check_to_pass() -> None:
    """healthy() is true only when every check answered 2xx; a probe that did not run is not."""
    assert healthy(ok(H), ok(R))
    assert not healthy(ok(H), failing(R))
    assert not healthy(unprobed(H))


def test_mentions_ignores_case() -> None:
    """mentions() finds any sign in any text regardless of case."""
    assert mentions(("max connections",), "", "ERROR: MAX CONNECTIONS reached")
    assert not mentions(("max connections",), "connection refused")
