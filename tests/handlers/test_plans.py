"""plan(): Findings in, the catalogue's steps and policies out (SCENARIOS.md, one table)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.models import Scenario, Severity
from handlers import (
    HANDLERS,
    api_down,
    api_high_latency,
    auth_broken,
    auth_failure_spike,
    data_corruption,
    database_down,
    dependency_down,
    deploy_failed,
    environment_mismatch,
    error_rate_spike,
    eventlog_corruption,
    frontend_down,
    llm_provider_failure,
    llm_rate_limited,
    memory_leak_oom,
    migration_missing,
    rate_limit_abuse,
    rollout_regression,
    security_breach,
    tenant_conflict_spike,
    tenant_suspension_cascade,
    unknown,
)
from handlers.actions import (
    Advise,
    CollectEvidence,
    DisableFlag,
    FreezeDeploys,
    HandOver,
    RestartService,
    RollbackDeploy,
    RollbackRollout,
    SetMaintenanceMode,
    TerminateIdleConnections,
)
from handlers.types import Endpoint, LlmVerdict, PingCheck, Policy, Step
from tests.handlers.conftest import (
    NO_DB,
    NO_DEPLOYS,
    NO_LLM,
    NO_REDIS,
    NO_ROLLOUT,
    SERVICE,
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
LLM_OK, BAD_KEY, LIMITED, DOWN = (
    LlmVerdict.OK,
    LlmVerdict.BAD_KEY,
    LlmVerdict.RATE_LIMITED,
    LlmVerdict.PROVIDER_DOWN,
)
REDIS_OK = PingCheck("redis.test:6379/0", 0.4)
REDIS_DOWN = PingCheck("redis.test:6379/0", error="ConnectionError: Connection refused")
AUTO, APPROVE, NEVER = Policy.AUTO, Policy.APPROVE, Policy.NEVER
RESTART, ROLLBACK = RestartService(SERVICE), RollbackDeploy(SERVICE)
EVIDENCE = CollectEvidence(SERVICE)

# (scenario, findings, expected steps). An expected action written as a str stands for an
# Advise whose text contains it; any other action must be equal.
ROWS: dict[str, tuple[Scenario, Any, list[tuple[object, Policy]]]] = {
    "database_down: unreachable, deploy 10 min before -> restart and rollback, both approve": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(failing(H, 500), unreachable(R), db_down(), MIN * 10, False),
        [(RESTART, APPROVE), (ROLLBACK, APPROVE)],
    ),
    "database_down: unreachable, deploy 3 h before -> restart only, no rollback": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(failing(H, 500), unreachable(R), db_down(), MIN * 180, False),
        [(RESTART, APPROVE)],
    ),
    "database_down: deploy 30 min before is outside the window -> no rollback": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(failing(H, 500), failing(R), db_down(), MIN * 30, False),
        [(RESTART, APPROVE)],
    ),
    "database_down: deploy after the incident began -> no rollback": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(failing(H, 500), failing(R), db_down(), -MIN * 5, False),
        [(RESTART, APPROVE)],
    ),
    "database_down: not probed -> restart; rollback left to a human who knows the deploys": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(unprobed(H), unprobed(R), NO_DB, None, pool_full=False),
        [(RESTART, APPROVE), ("deploy history unknown", AUTO)],
    ),
    "database_down: alive but not ready, SELECT 1 answers -> say so, restart": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(ok(H), failing(R), db_ok(), MIN * 120, pool_full=False),
        [("SELECT 1", AUTO), (RESTART, APPROVE)],
    ),
    "database_down: health passes but SELECT 1 fails -> restart": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(ok(H), ok(R), db_down(), MIN * 120, pool_full=False),
        [(RESTART, APPROVE)],
    ),
    "database_down: max connections -> hand over to api_high_latency": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(failing(H, 500), failing(R), db_ok(98), MIN * 10, pool_full=True),
        [(HandOver(Scenario.API_HIGH_LATENCY), AUTO)],
    ),
    "database_down: healthy again -> advice only": (
        Scenario.DATABASE_DOWN,
        database_down.Findings(ok(H), ok(R), db_ok(), MIN * 10, pool_full=False),
        [("pass again", AUTO)],
    ),
    "api_high_latency: slow, 7 idle > 5 min -> terminate idle (auto), restart (approve)": (
        Scenario.API_HIGH_LATENCY,
        api_high_latency.Findings(ok(H, latency_ms=1_500), db_ok(idle=7)),
        [(TerminateIdleConnections(SERVICE, 5), AUTO), (RESTART, APPROVE)],
    ),
    "api_high_latency: no idle connections -> nothing to terminate, restart (approve)": (
        Scenario.API_HIGH_LATENCY,
        api_high_latency.Findings(ok(H, latency_ms=1_500), db_ok(idle=0)),
        [("not the cause", AUTO), (RESTART, APPROVE)],
    ),
    "api_high_latency: database not probed -> no terminate, count by hand": (
        Scenario.API_HIGH_LATENCY,
        api_high_latency.Findings(ok(H, latency_ms=1_500), NO_DB),
        [("pg_stat_activity by hand", AUTO), (RESTART, APPROVE)],
    ),
    "api_high_latency: /health over 5 s -> also escalate": (
        Scenario.API_HIGH_LATENCY,
        api_high_latency.Findings(ok(H, latency_ms=6_000), db_ok(idle=2)),
        [(TerminateIdleConnections(SERVICE, 5), AUTO), (RESTART, APPROVE), ("escalate", AUTO)],
    ),
    "api_high_latency: /health fast -> also look at slow queries": (
        Scenario.API_HIGH_LATENCY,
        api_high_latency.Findings(ok(H, latency_ms=40), db_ok(idle=2)),
        [(TerminateIdleConnections(SERVICE, 5), AUTO), (RESTART, APPROVE), ("slow queries", AUTO)],
    ),
    "api_high_latency: unreachable -> terminate and restart only": (
        Scenario.API_HIGH_LATENCY,
        api_high_latency.Findings(unreachable(H), db_ok(idle=1)),
        [(TerminateIdleConnections(SERVICE, 5), AUTO), (RESTART, APPROVE)],
    ),
    "api_down: /health fails -> check disk/memory, restart with approval": (
        Scenario.API_DOWN,
        api_down.Findings(unreachable(H), unreachable(R)),
        [("disk", AUTO), (RESTART, APPROVE)],
    ),
    "api_down: not probed -> restart with approval": (
        Scenario.API_DOWN,
        api_down.Findings(unprobed(H), unprobed(R)),
        [("disk", AUTO), (RESTART, APPROVE)],
    ),
    "api_down: /health answers -> nothing destructive": (
        Scenario.API_DOWN,
        api_down.Findings(ok(H), ok(R)),
        [("nothing to restart", AUTO)],
    ),
    "error_rate_spike: maintenance mode and rollback, both approve": (
        Scenario.ERROR_RATE_SPIKE,
        error_rate_spike.Findings(failing(H, 500)),
        [(SetMaintenanceMode(SERVICE, enabled=True), APPROVE), (ROLLBACK, APPROVE)],
    ),
    "llm_provider_failure: provider answers 503 -> provider-down notice only": (
        Scenario.LLM_PROVIDER_FAILURE,
        llm_provider_failure.Findings(llm_says(DOWN, 503), False, timedelta(0)),
        [("answers 503", AUTO)],
    ),
    "llm_provider_failure: models call 401 -> notice and key rotation checklist": (
        Scenario.LLM_PROVIDER_FAILURE,
        llm_provider_failure.Findings(llm_says(BAD_KEY, 401), False, timedelta(0)),
        [("user notice", AUTO), ("rotate OPENAI_API_KEY", AUTO)],
    ),
    "llm_provider_failure: alert says 401 but the key works now -> provider back": (
        Scenario.LLM_PROVIDER_FAILURE,
        llm_provider_failure.Findings(llm_says(LLM_OK, 200), True, timedelta(0)),
        [("the provider is back", AUTO)],
    ),
    "llm_provider_failure: models call 429 -> hand over to llm_rate_limited": (
        Scenario.LLM_PROVIDER_FAILURE,
        llm_provider_failure.Findings(llm_says(LIMITED, 429), False, timedelta(0)),
        [(HandOver(Scenario.LLM_RATE_LIMITED), AUTO)],
    ),
    "llm_provider_failure: not probed, alert says 401 -> rotation from the alert": (
        Scenario.LLM_PROVIDER_FAILURE,
        llm_provider_failure.Findings(NO_LLM, key_rejected=True, failing_for=timedelta(0)),
        [("user notice", AUTO), ("rotate OPENAI_API_KEY", AUTO)],
    ),
    "llm_provider_failure: down for 2 h -> call the Incident Commander": (
        Scenario.LLM_PROVIDER_FAILURE,
        llm_provider_failure.Findings(llm_says(DOWN, 503), False, timedelta(hours=2)),
        [("user notice", AUTO), ("Incident Commander", AUTO)],
    ),
    "llm_rate_limited: one 429 -> wait and notify": (
        Scenario.LLM_RATE_LIMITED,
        llm_rate_limited.Findings(llm_says(LIMITED, 429), alerts=1, span=timedelta(0)),
        [("wait", AUTO)],
    ),
    "llm_rate_limited: models call answers 200 -> the quota has reset": (
        Scenario.LLM_RATE_LIMITED,
        llm_rate_limited.Findings(llm_says(LLM_OK, 200), alerts=1, span=timedelta(0)),
        [("quota has reset", AUTO)],
    ),
    "llm_rate_limited: models call 401 -> hand over to llm_provider_failure": (
        Scenario.LLM_RATE_LIMITED,
        llm_rate_limited.Findings(llm_says(BAD_KEY, 401), alerts=1, span=timedelta(0)),
        [(HandOver(Scenario.LLM_PROVIDER_FAILURE), AUTO)],
    ),
    "llm_rate_limited: 3 in a day is not yet recurring": (
        Scenario.LLM_RATE_LIMITED,
        llm_rate_limited.Findings(NO_LLM, alerts=3, span=timedelta(hours=5)),
        [("wait", AUTO)],
    ),
    "llm_rate_limited: 4 in a day -> escalate": (
        Scenario.LLM_RATE_LIMITED,
        llm_rate_limited.Findings(NO_LLM, alerts=4, span=timedelta(hours=5)),
        [("wait", AUTO), ("escalate", AUTO)],
    ),
    "llm_rate_limited: 6 over 3 days is 2 a day -> no escalation": (
        Scenario.LLM_RATE_LIMITED,
        llm_rate_limited.Findings(NO_LLM, alerts=6, span=timedelta(days=3)),
        [("wait", AUTO)],
    ),
    "memory_leak_oom: deploy 10 min before -> rollback (approve), never restart the loop": (
        Scenario.MEMORY_LEAK_OOM,
        memory_leak_oom.Findings(failing(H, 502), deployed(MIN * 10), MIN * 10),
        [(ROLLBACK, APPROVE), (RESTART, NEVER), ("memory", AUTO)],
    ),
    "memory_leak_oom: deploys unknown -> rollback still offered (approve)": (
        Scenario.MEMORY_LEAK_OOM,
        memory_leak_oom.Findings(failing(H, 502), NO_DEPLOYS, None),
        [(ROLLBACK, APPROVE), (RESTART, NEVER), ("memory", AUTO)],
    ),
    "memory_leak_oom: last deploy 2 days before -> no rollback, profile the leak": (
        Scenario.MEMORY_LEAK_OOM,
        memory_leak_oom.Findings(failing(H, 502), deployed(MIN * 2880), MIN * 2880),
        [("profile the leak", AUTO), (RESTART, NEVER), ("memory", AUTO)],
    ),
    "frontend_down: 502 -> rollback (approve), check VITE_API_URL": (
        Scenario.FRONTEND_DOWN,
        frontend_down.Findings(failing(F, 502), deployed(MIN * 5)),
        [(ROLLBACK, APPROVE), ("VITE_API_URL", AUTO)],
    ),
    "frontend_down: answers again -> advice only": (
        Scenario.FRONTEND_DOWN,
        frontend_down.Findings(ok(F), deployed(MIN * 5)),
        [("again", AUTO)],
    ),
    "auth_broken: rollback (approve); the secret is never changed automatically": (
        Scenario.AUTH_BROKEN,
        auth_broken.Findings(ok(H), signature_error=False),
        [(ROLLBACK, APPROVE), ("JWT_SECRET", NEVER)],
    ),
    "auth_broken: invalid signature -> the secret comes first": (
        Scenario.AUTH_BROKEN,
        auth_broken.Findings(ok(H), signature_error=True),
        [("JWT_SECRET", NEVER), (ROLLBACK, APPROVE)],
    ),
    "auth_failure_spike: advice; security_breach only when a human says so": (
        Scenario.AUTH_FAILURE_SPIKE,
        auth_failure_spike.Findings(ok(H)),
        [("block it", AUTO), (HandOver(Scenario.SECURITY_BREACH), APPROVE)],
    ),
    "data_corruption: evidence first (auto), rollback (approve), never restore": (
        Scenario.DATA_CORRUPTION,
        data_corruption.Findings(failing(D)),
        [(EVIDENCE, AUTO), (ROLLBACK, APPROVE), ("restore", NEVER)],
    ),
    "eventlog_corruption: copy evidence (auto), escalate, never touch originals": (
        Scenario.EVENTLOG_CORRUPTION,
        eventlog_corruption.Findings(ok(H)),
        [(EVIDENCE, AUTO), ("escalate", AUTO), ("event log", NEVER)],
    ),
    "deploy_failed: /health/deep fails -> rollback (auto)": (
        Scenario.DEPLOY_FAILED,
        deploy_failed.Findings(failing(D), False, deployed(MIN * 5, "FAILED")),
        [(ROLLBACK, AUTO), ("Escalation Engineer", AUTO)],
    ),
    "deploy_failed: not probed -> the alert alone rolls back (auto)": (
        Scenario.DEPLOY_FAILED,
        deploy_failed.Findings(unprobed(D), False, NO_DEPLOYS),
        [(ROLLBACK, AUTO), ("Escalation Engineer", AUTO)],
    ),
    "deploy_failed: CRITICAL -> hand over to environment_mismatch": (
        Scenario.DEPLOY_FAILED,
        deploy_failed.Findings(failing(D, body="CRITICAL"), True, deployed(MIN * 5)),
        [(HandOver(Scenario.ENVIRONMENT_MISMATCH), AUTO)],
    ),
    "deploy_failed: /health/deep passes -> no rollback": (
        Scenario.DEPLOY_FAILED,
        deploy_failed.Findings(ok(D), False, deployed(MIN * 5, "FAILED")),
        [("passes", AUTO)],
    ),
    "environment_mismatch: CRITICAL -> rollback (auto) and page": (
        Scenario.ENVIRONMENT_MISMATCH,
        environment_mismatch.Findings(failing(D, body="CRITICAL"), wrong_environment=True),
        [(ROLLBACK, AUTO), ("page", AUTO)],
    ),
    "environment_mismatch: CRITICAL even with a 200 -> rollback (auto)": (
        Scenario.ENVIRONMENT_MISMATCH,
        environment_mismatch.Findings(ok(D, body="CRITICAL"), wrong_environment=True),
        [(ROLLBACK, AUTO), ("page", AUTO)],
    ),
    "environment_mismatch: not probed -> trust the alert, rollback (auto)": (
        Scenario.ENVIRONMENT_MISMATCH,
        environment_mismatch.Findings(unprobed(D), wrong_environment=False),
        [(ROLLBACK, AUTO), ("page", AUTO)],
    ),
    "environment_mismatch: /health/deep passes -> no rollback": (
        Scenario.ENVIRONMENT_MISMATCH,
        environment_mismatch.Findings(ok(D), wrong_environment=False),
        [("passes", AUTO)],
    ),
    "migration_missing: /health/schema behind -> apply it by hand; never ourselves": (
        Scenario.MIGRATION_MISSING,
        migration_missing.Findings(failing(S, 503, body='{"expected":42,"applied":41}')),
        [("apply the missing migration by hand", AUTO), ("migration", NEVER)],
    ),
    "migration_missing: /health/schema passes -> looks applied": (
        Scenario.MIGRATION_MISSING,
        migration_missing.Findings(ok(S)),
        [("looks applied", AUTO), ("migration", NEVER)],
    ),
    "dependency_down: not ready -> check Redis, restart (approve)": (
        Scenario.DEPENDENCY_DOWN,
        dependency_down.Findings(failing(R), unprobed(C), NO_REDIS),
        [("Redis", AUTO), (RESTART, APPROVE)],
    ),
    "dependency_down: ready but Redis PING fails -> restart (approve)": (
        Scenario.DEPENDENCY_DOWN,
        dependency_down.Findings(ok(R), ok(C), REDIS_DOWN),
        [("does not answer PING", AUTO), (RESTART, APPROVE)],
    ),
    "dependency_down: ready but a circuit is open -> restart (approve)": (
        Scenario.DEPENDENCY_DOWN,
        dependency_down.Findings(ok(R), failing(C, body='{"openai":"OPEN"}'), REDIS_OK),
        [("openai", AUTO), (RESTART, APPROVE)],
    ),
    "dependency_down: ready again, circuits closed, PING ok -> advice only": (
        Scenario.DEPENDENCY_DOWN,
        dependency_down.Findings(ok(R), ok(C), REDIS_OK),
        [("passes again", AUTO)],
    ),
    "tenant_conflict_spike: notify the tenant owner, nothing else": (
        Scenario.TENANT_CONFLICT_SPIKE,
        tenant_conflict_spike.Findings(ok(H)),
        [("tenant's owner", AUTO), ("escalate", AUTO)],
    ),
    "rate_limit_abuse: quota review or suspension by hand": (
        Scenario.RATE_LIMIT_ABUSE,
        rate_limit_abuse.Findings(ok(H)),
        [("quota", AUTO), ("suspend", AUTO)],
    ),
    "tenant_suspension_cascade: resume one by one, by hand": (
        Scenario.TENANT_SUSPENSION_CASCADE,
        tenant_suspension_cascade.Findings(ok(H)),
        [("one by one", AUTO), ("escalate", AUTO)],
    ),
    "rollout_regression: status unread -> back one phase (auto); alpha advice": (
        Scenario.ROLLOUT_REGRESSION,
        rollout_regression.Findings(NO_ROLLOUT, SERVICE),
        [(RollbackRollout(SERVICE), AUTO), ("alpha", AUTO)],
    ),
    "rollout_regression: beta at 3 % (> 2 %) -> roll back one phase (auto)": (
        Scenario.ROLLOUT_REGRESSION,
        rollout_regression.Findings(rollout_at("beta", 3.0), "new_dashboard"),
        [(RollbackRollout(SERVICE), AUTO)],
    ),
    "rollout_regression: ga at 1.5 % (> 1 %) -> roll back one phase (auto)": (
        Scenario.ROLLOUT_REGRESSION,
        rollout_regression.Findings(rollout_at("ga", 1.5), "new_dashboard"),
        [(RollbackRollout(SERVICE), AUTO)],
    ),
    "rollout_regression: alpha at 7 % (> 5 %) -> disable the flag (approve)": (
        Scenario.ROLLOUT_REGRESSION,
        rollout_regression.Findings(rollout_at("alpha", 7.0), "new_dashboard"),
        [(DisableFlag(SERVICE, "new_dashboard"), APPROVE)],
    ),
    "rollout_regression: beta at 1.5 % (<= 2 %) -> no rollback": (
        Scenario.ROLLOUT_REGRESSION,
        rollout_regression.Findings(rollout_at("beta", 1.5), "new_dashboard"),
        [("no rollback", AUTO)],
    ),
    "security_breach: evidence, freeze, never rollback, rotate, notify": (
        Scenario.SECURITY_BREACH,
        security_breach.Findings(ok(H)),
        [
            (EVIDENCE, AUTO),
            (FreezeDeploys(f"security breach suspected on {SERVICE}"), AUTO),
            (ROLLBACK, NEVER),
            ("rotate JWT_SECRET", AUTO),
            ("rotate DATABASE_PASSWORD", AUTO),
            ("rotate OPENAI_API_KEY", AUTO),
            ("ANPD", AUTO),
        ],
    ),
    "unknown: ask for a classification rule": (
        Scenario.UNKNOWN,
        unknown.Findings(unprobed(H)),
        [("no rule matched: add a classification rule", AUTO)],
    ),
}


def shown(step: Step) -> tuple[object, Policy]:
    return (step.action.text if isinstance(step.action, Advise) else step.action, step.policy)


def agrees(got: tuple[object, Policy], want: tuple[object, Policy]) -> bool:
    (action, policy), (expected, expected_policy) = got, want
    if isinstance(expected, str):
        return isinstance(action, str) and expected in action and policy == expected_policy
    return action == expected and policy == expected_policy


@pytest.mark.parametrize(("scenario", "findings", "expected"), ROWS.values(), ids=ROWS.keys())
def test_plan_proposes_the_catalogue_steps(
    make_incident: MakeIncident,
    scenario: Scenario,
    findings: Any,
    expected: list[tuple[object, Policy]],
) -> None:
    """For each finding, plan() proposes exactly the catalogue's steps, in order, with policies."""
    got = [shown(s) for s in HANDLERS[scenario].plan(make_incident(scenario), findings)]
    assert len(got) == len(expected) and all(map(agrees, got, expected)), got


def test_security_breach_refuses_rollback_and_reminds_lgpd(make_incident: MakeIncident) -> None:
    """A breach is never rolled back (evidence) and the plan names the DPO, ANPD and LGPD."""
    steps = security_breach.plan(
        make_incident(Scenario.SECURITY_BREACH), security_breach.Findings(ok(H))
    )
    rollback = next(s for s in steps if isinstance(s.action, RollbackDeploy))
    assert rollback.policy is NEVER
    assert rollback.why == "never roll back: destroys evidence (runbook 004 S10)"
    notice = steps[-1].action
    assert isinstance(notice, Advise)
    assert all(word in notice.text for word in ("LGPD", "ANPD", "DPO"))


def test_migration_missing_says_migrations_are_never_automatic(make_incident: MakeIncident) -> None:
    """The NEVER step explains that plantão never applies a migration itself."""
    steps = migration_missing.plan(
        make_incident(Scenario.MIGRATION_MISSING), migration_missing.Findings(failing(S))
    )
    never = [s for s in steps if s.policy is NEVER]
    assert len(never) == 1 and "never applied automatically" in never[0].why


def test_unknown_asks_for_a_rule_verbatim(make_incident: MakeIncident) -> None:
    """The unknown handler's only step is the exact request for a classification rule."""
    steps = unknown.plan(make_incident(Scenario.UNKNOWN), unknown.Findings(ok(H)))
    assert steps == [Step(Advise("no rule matched: add a classification rule"), AUTO, steps[0].why)]


def test_api_down_alive_but_not_ready_points_at_dependencies(make_incident: MakeIncident) -> None:
    """With /health up and /health/ready down, the advice names the readiness failure."""
    steps = api_down.plan(make_incident(Scenario.API_DOWN), api_down.Findings(ok(H), failing(R)))
    assert [s.policy for s in steps] == [AUTO]
    assert isinstance(steps[0].action, Advise) and "/health/ready" in steps[0].action.text


def test_api_down_restart_needs_approval_even_for_p0(make_incident: MakeIncident) -> None:
    """A P0 outage does not make the restart automatic (catalogue: still approve)."""
    incident = make_incident(Scenario.API_DOWN, severity=Severity.P0)
    steps = api_down.plan(incident, api_down.Findings(unreachable(H), unreachable(R)))
    assert [s.policy for s in steps if isinstance(s.action, RestartService)] == [APPROVE]


def test_plans_act_on_the_incident_service(make_incident: MakeIncident) -> None:
    """Actions name the incident's own service, not a fixed one."""
    incident = make_incident(Scenario.DEPLOY_FAILED, service="julia-api")
    steps = deploy_failed.plan(incident, deploy_failed.Findings(failing(D), False, NO_DEPLOYS))
    assert steps[0].action == RollbackDeploy("julia-api")


def test_deploy_failed_names_the_last_successful_deployment(make_incident: MakeIncident) -> None:
    """The rollback's reason names the deployment it goes back to, from the deploys probe."""
    found = deploy_failed.Findings(failing(D), False, deployed(MIN * 5, "FAILED"))
    steps = deploy_failed.plan(make_incident(Scenario.DEPLOY_FAILED), found)
    assert "back to dep-old, the last successful deployment" in steps[0].why


def test_database_down_rollback_says_how_long_after_the_deploy(make_incident: MakeIncident) -> None:
    """A rollback proposed for a recent deploy says how many minutes separated them."""
    found = database_down.Findings(failing(H), failing(R), db_down(), MIN * 12, False)
    steps = database_down.plan(make_incident(Scenario.DATABASE_DOWN), found)
    assert "began 12 min after a deploy" in steps[-1].why


def test_frontend_rollback_names_the_deploy_status(make_incident: MakeIncident) -> None:
    """The frontend rollback's reason names the last deploy's status and the target."""
    found = frontend_down.Findings(failing(F, 502), deployed(MIN * 5, "CRASHED"))
    steps = frontend_down.plan(make_incident(Scenario.FRONTEND_DOWN), found)
    assert "dep-new is CRASHED; back to dep-old" in steps[0].why
    assert steps[0].verify is F
