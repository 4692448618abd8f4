"""diagnose(): which endpoints each handler probes, and what it reads from their answers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import Scenario
from handlers import (
    HANDLERS,
    api_down,
    api_high_latency,
    auth_broken,
    database_down,
    dependency_down,
    environment_mismatch,
    llm_provider_failure,
    llm_rate_limited,
    memory_leak_oom,
    rollout_regression,
)
from handlers.actions import (
    DisableFlag,
    RestartService,
    RollbackDeploy,
    TerminateIdleConnections,
    describe,
)
from handlers.probing import check, healthy, mentions
from handlers.types import DbCheck, Endpoint, HttpCheck, LlmCheck, LlmVerdict, PingCheck, Policy
from tests.handlers.conftest import (
    SERVICE,
    T0,
    FakeProbes,
    MakeIncident,
    db_down,
    db_ok,
    deployed,
    failing,
    llm_says,
    ok,
    rollout_at,
    unprobed,
    unreachable,
)

H, R, D = Endpoint.HEALTH, Endpoint.READY, Endpoint.DEEP
S, C, F = Endpoint.SCHEMA, Endpoint.CIRCUITS, Endpoint.FRONTEND
MIN = timedelta(minutes=1)

# Read off the catalogue's diagnosis column; every other scenario takes /health as context.
ENDPOINTS = {
    Scenario.DATABASE_DOWN: [H, R],
    Scenario.API_DOWN: [H, R],
    Scenario.DEPENDENCY_DOWN: [R, C],
    Scenario.DEPLOY_FAILED: [D],
    Scenario.ENVIRONMENT_MISMATCH: [D],
    Scenario.MIGRATION_MISSING: [S],
    Scenario.DATA_CORRUPTION: [D],
    Scenario.FRONTEND_DOWN: [F],
    Scenario.LLM_PROVIDER_FAILURE: [],
    Scenario.LLM_RATE_LIMITED: [],
    Scenario.ROLLOUT_REGRESSION: [],
}
# The catalogue's other read-only checks: Postgres, deployments, Redis, LLM, rollout status.
OTHER_PROBES = {
    Scenario.DATABASE_DOWN: ["database", "deploys"],
    Scenario.API_HIGH_LATENCY: ["database"],
    Scenario.MEMORY_LEAK_OOM: ["deploys"],
    Scenario.FRONTEND_DOWN: ["deploys"],
    Scenario.DEPLOY_FAILED: ["deploys"],
    Scenario.DEPENDENCY_DOWN: ["redis"],
    Scenario.LLM_PROVIDER_FAILURE: ["llm"],
    Scenario.LLM_RATE_LIMITED: ["llm"],
    Scenario.ROLLOUT_REGRESSION: ["rollout"],
}


@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
async def test_diagnose_probes_the_catalogue_endpoints_of_the_service(
    make_incident: MakeIncident, scenario: Scenario
) -> None:
    """Each handler asks its catalogue endpoints, once each, about the incident's service only."""
    probes = FakeProbes()
    await HANDLERS[scenario].diagnose(make_incident(scenario, service="julia-api"), probes)
    assert probes.calls == [("julia-api", e) for e in ENDPOINTS.get(scenario, [H])]


@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
async def test_diagnose_runs_the_catalogue_checks_beyond_http(
    make_incident: MakeIncident, scenario: Scenario
) -> None:
    """Each handler asks the database, deploy, Redis, LLM or rollout probes its row names."""
    probes = FakeProbes()
    await HANDLERS[scenario].diagnose(make_incident(scenario, service="julia-api"), probes)
    assert sorted(probes.asked) == [("julia-api", p) for p in OTHER_PROBES.get(scenario, [])]


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
    ("db", "expected"),
    [
        (db_ok(connections=96, max_connections=100), True),
        (db_ok(connections=94, max_connections=100), False),
        (
            db_down(
                "Postgres db:5432/app: connect: TooManyConnectionsError: sorry, too many "
                "connections"
            ),
            True,
        ),
        (db_down(), False),
    ],
    ids=["96 of 100", "94 of 100", "connect refused: too many", "refused"],
)
async def test_database_down_reads_a_full_pool_from_pg_stat_activity(
    make_incident: MakeIncident, db: DbCheck, expected: bool
) -> None:
    """At 95 % of max_connections, or when our own connect is refused for it, the pool is full."""
    probes = FakeProbes({H: failing(H, 500), R: failing(R)}, db=db)
    found = await database_down.diagnose(make_incident(Scenario.DATABASE_DOWN), probes)
    assert found.pool_full is expected


async def test_deploy_lead_is_measured_from_the_incident_start(make_incident: MakeIncident) -> None:
    """The deploy-to-incident gap uses first_seen, not the time of diagnosis, so plan stays pure."""
    incident = make_incident(Scenario.DATABASE_DOWN, last_seen=T0 + timedelta(hours=5))
    probes = FakeProbes(db=db_down(), deployments=deployed(MIN * 12))
    found = await database_down.diagnose(incident, probes)
    assert found.deploy_lead == MIN * 12
    steps = database_down.plan(incident, found)
    assert [type(s.action) for s in steps] == [RestartService, RollbackDeploy]


async def test_memory_leak_without_deploy_history_keeps_the_lead_unknown(
    make_incident: MakeIncident,
) -> None:
    """With no deployment list the lead is None: unknown, never guessed as 'recent'."""
    found = await memory_leak_oom.diagnose(make_incident(Scenario.MEMORY_LEAK_OOM), FakeProbes())
    assert found.deploy_lead is None and not found.deploys.ran


async def test_api_high_latency_terminates_only_counted_idle_connections(
    make_incident: MakeIncident,
) -> None:
    """With 3 idle sessions counted, the AUTO terminate step is proposed; with 0 it is not."""
    incident = make_incident(Scenario.API_HIGH_LATENCY)
    for idle, expected in ((3, True), (0, False)):
        found = await api_high_latency.diagnose(
            incident, FakeProbes({H: ok(H)}, db=db_ok(idle=idle))
        )
        steps = api_high_latency.plan(incident, found)
        terminate = [s for s in steps if isinstance(s.action, TerminateIdleConnections)]
        assert bool(terminate) is expected and all(s.policy is Policy.AUTO for s in terminate)


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (llm_says(LlmVerdict.BAD_KEY, 401), "rotate OPENAI_API_KEY"),
        (llm_says(LlmVerdict.PROVIDER_DOWN, 503), "answers 503"),
        (llm_says(LlmVerdict.RATE_LIMITED, 429), "llm_rate_limited"),
    ],
    ids=["401", "503", "429"],
)
async def test_llm_provider_failure_follows_the_models_call(
    make_incident: MakeIncident, check: LlmCheck, expected: str
) -> None:
    """The provider's own answer decides: 401 rotation, 503 notice, 429 hand over to S8."""
    incident = make_incident(Scenario.LLM_PROVIDER_FAILURE, summary="openai error")
    found = await llm_provider_failure.diagnose(incident, FakeProbes(provider=check))
    steps = llm_provider_failure.plan(incident, found)
    assert any(expected in describe(s.action) for s in steps), steps


async def test_rollout_regression_takes_the_flag_from_the_status_api(
    make_incident: MakeIncident,
) -> None:
    """In alpha over 5 % the flag named by the status API's featureKey is the one disabled."""
    incident = make_incident(Scenario.ROLLOUT_REGRESSION, labels={"feature": "from_label"})
    found = await rollout_regression.diagnose(
        incident, FakeProbes(staged=rollout_at("alpha", 6.0, feature="new_dashboard"))
    )
    (step,) = rollout_regression.plan(incident, found)
    assert (step.action, step.policy) == (DisableFlag(SERVICE, "new_dashboard"), Policy.APPROVE)
    unread = await rollout_regression.diagnose(incident, FakeProbes())
    assert unread.flag == "from_label"


async def test_dependency_down_names_the_failed_ping(make_incident: MakeIncident) -> None:
    """A Redis that does not answer PING is named in the advice, even when /health/ready passes."""
    ping = PingCheck("redis.test:6379/0", error="ConnectionError: refused")
    probes = FakeProbes({R: ok(R), C: ok(C)}, ping=ping)
    incident = make_incident(Scenario.DEPENDENCY_DOWN)
    steps = dependency_down.plan(incident, await dependency_down.diagnose(incident, probes))
    assert "redis.test:6379/0 does not answer PING" in describe(steps[0].action)
    assert isinstance(steps[1].action, RestartService)


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
    found = await llm_provider_failure.diagnose(incident, FakeProbes())
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
