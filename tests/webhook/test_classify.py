"""Classification: one row per catalogue signal each source can carry (SCENARIOS.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from core.config import PlantaoConfig, parse_config
from core.errors import ConfigError
from core.models import Alert, Scenario, Severity, Source
from tests.conftest import fixture_bytes, fixture_names
from webhook.classify import Classifier
from webhook.sources import railway, sentry
from webhook.sources.alertmanager import parse


def alert(name: str, *, summary: str = "", expr: str = "", **labels: str) -> Alert:
    return Alert(
        source=Source.ALERTMANAGER,
        fingerprint=f"alertmanager:{name}",
        name=name,
        service=labels.get("service", "api"),
        firing=True,
        summary=summary or name,
        labels={"alertname": name, **labels},
        expr=expr,
    )


DEFAULT = Classifier.from_config(PlantaoConfig())

# (catalogue row, signal) -> expected scenario and severity
CATALOG_ROWS = [
    (alert("PostgresDown"), Scenario.DATABASE_DOWN, Severity.P0),
    (alert("PgExporter", expr="pg_up == 0"), Scenario.DATABASE_DOWN, Severity.P0),
    (
        alert("AppErrors", summary="FATAL: sorry, too many connections"),
        Scenario.DATABASE_DOWN,
        Severity.P0,
    ),
    (alert("HighLatency"), Scenario.API_HIGH_LATENCY, Severity.P1),
    (alert("ServiceDown"), Scenario.API_DOWN, Severity.P0),
    (alert("Whatever", expr='up{job="api"} == 0'), Scenario.API_DOWN, Severity.P0),
    (alert("HighErrorRate"), Scenario.ERROR_RATE_SPIKE, Severity.P1),
    (
        alert("LlmErrors", summary="OpenAI returned 401 invalid api key"),
        Scenario.LLM_PROVIDER_FAILURE,
        Severity.P1,
    ),
    (
        alert("LlmErrors", summary="OpenAI 429 rate limit exceeded"),
        Scenario.LLM_RATE_LIMITED,
        Severity.P2,
    ),
    (alert("OOMKilled"), Scenario.MEMORY_LEAK_OOM, Severity.P0),
    (
        alert("AppCrash", summary="JavaScript heap out of memory"),
        Scenario.MEMORY_LEAK_OOM,
        Severity.P0,
    ),
    (alert("FrontendDown"), Scenario.FRONTEND_DOWN, Severity.P0),
    (
        alert("LoginErrors", summary="JsonWebTokenError: jwt malformed"),
        Scenario.AUTH_BROKEN,
        Severity.P1,
    ),
    (alert("AuthFailureSpike"), Scenario.AUTH_FAILURE_SPIKE, Severity.P1),
    (alert("DataCorruption"), Scenario.DATA_CORRUPTION, Severity.P1),
    (alert("EventLogCorruption"), Scenario.EVENTLOG_CORRUPTION, Severity.P1),
    (alert("DeployFailed"), Scenario.DEPLOY_FAILED, Severity.P1),
    (alert("DeepHealthCritical"), Scenario.ENVIRONMENT_MISMATCH, Severity.P0),
    (
        alert("Errors", summary='relation "users" does not exist'),
        Scenario.MIGRATION_MISSING,
        Severity.P1,
    ),
    (alert("RedisDown"), Scenario.DEPENDENCY_DOWN, Severity.P1),
    (alert("TenantConflictSpike"), Scenario.TENANT_CONFLICT_SPIKE, Severity.P2),
    (alert("RateLimitAbuse"), Scenario.RATE_LIMIT_ABUSE, Severity.P2),
    (alert("TenantSuspensionCascade"), Scenario.TENANT_SUSPENSION_CASCADE, Severity.P1),
    (alert("RolloutErrorRate"), Scenario.ROLLOUT_REGRESSION, Severity.P1),
    (alert("SecurityBreach"), Scenario.SECURITY_BREACH, Severity.P0),
    (alert("DiskAlmostFull"), Scenario.UNKNOWN, Severity.P3),
]


@pytest.mark.parametrize(
    ("signal", "scenario", "severity"), CATALOG_ROWS, ids=lambda v: str(v)[:40]
)
def test_catalogue_signal_maps_to_its_scenario_and_severity(
    signal: Alert, scenario: Scenario, severity: Severity
) -> None:
    """Every catalogue signal classifies to the catalogue's scenario and severity."""
    found = DEFAULT.classify(signal)
    assert (found.scenario, found.severity) == (scenario, severity)
    assert found.why.startswith(f"rule {found.rule}:")


def test_every_scenario_but_unknown_is_reachable_by_a_default_rule() -> None:
    """The default rules and the catalogue cannot drift apart: each scenario has a row above."""
    assert {row[1] for row in CATALOG_ROWS} == set(Scenario)


def test_why_names_the_rule_and_the_fields_used() -> None:
    """The why line says which rule matched and on which field, for Slack and the incident."""
    found = DEFAULT.classify(alert("PostgresDown"))
    assert found.rule == "postgres-down"
    assert "alertname=PostgresDown" in found.why


def test_unknown_alert_is_p3_and_says_no_rule_matched() -> None:
    """An alert no rule knows is unknown/P3, still classified (and so still notified)."""
    found = DEFAULT.classify(alert("SomethingNew"))
    assert (found.scenario, found.severity) == (Scenario.UNKNOWN, Severity.P3)
    assert "no rule matches SomethingNew" in found.why


def test_a_p_level_severity_label_overrides_the_rule() -> None:
    """An alert labelled severity=P1 is P1 whatever the scenario's default."""
    found = DEFAULT.classify(alert("SomethingNew", severity="p1"))
    assert found.severity is Severity.P1
    assert "severity label P1" in found.why


def test_vendor_severity_words_do_not_override_the_catalogue() -> None:
    """severity=critical/warning is the sender's vocabulary; the catalogue decides P-levels."""
    assert DEFAULT.classify(alert("HighErrorRate", severity="critical")).severity is Severity.P1


def test_operator_rules_from_config_are_tried_first() -> None:
    """A rule in PLANTAO_CONFIG overrides the shipped default for the same alert."""
    config = parse_config(
        '[[rules]]\nname = "mine"\nscenario = "dependency_down"\nseverity = "P2"\n'
        '[rules.match]\nalertname = ["PostgresDown"]\nlabels = { env = "stag.*" }\n',
        "test.toml",
    )
    classifier = Classifier.from_config(config)
    assert classifier.classify(alert("PostgresDown", env="staging")).rule == "mine"
    assert classifier.classify(alert("PostgresDown", env="production")).rule == "postgres-down"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[[rules]\nname = ", "/etc/plantao.toml: not valid TOML"),
        (
            '[[rules]]\nname = "x"\nscenario = "nope"\nmatch = {}',
            "/etc/plantao.toml:3: rules.0.scenario",
        ),
        (
            '[[rules]]\nname = "x"\nscenario = "unknown"\nmatch = { text = "(" }',
            "/etc/plantao.toml:4: rules.0.match.text",
        ),
        (
            '[[rules]]\nname = "x"\nscenario = "unknown"\nmatch = { colour = "red" }',
            "/etc/plantao.toml:4: rules.0.match.colour",
        ),
    ],
)
def test_a_bad_rule_file_fails_naming_file_line_and_place(text: str, complaint: str) -> None:
    """A broken rule is refused at load with the file name, the line and where it is wrong."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/etc/plantao.toml")
    assert complaint in str(caught.value)


def test_the_line_is_that_of_the_nth_rule_even_with_sub_tables() -> None:
    """Each of several bad rules is located by its own [[rules]] entry and the key it sets."""
    text = "\n".join(
        [
            "# operator rules",  # 1
            "[[rules]]",  # 2
            'name = "fine"',
            'scenario = "unknown"',
            "match = {}",
            "",
            "[[rules]]",  # 7
            'name = "bad-regex"',
            'scenario = "unknown"',
            "[rules.match]",  # 10
            'alertname = ["A"]',
            'labels = { env = "(" }',  # 12
            "",
            "[[rules]]",  # 14
            'name = "bad-severity"',
            'scenario = "unknown"',
            'severity = "P9"',  # 17
            "match = {}",
        ]
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "ops.toml")
    message = str(caught.value)
    assert "ops.toml:12: rules.1.match.labels" in message
    assert "ops.toml:17: rules.2.severity" in message


def test_the_shipped_rules_file_parses() -> None:
    """webhook/rules.toml itself loads (a bad default rule would stop every start)."""
    assert len(DEFAULT._rules) >= 30


@pytest.mark.parametrize(
    ("name", "scenarios"),
    [
        ("captured-am025-firing-2-alerts-servicedown.json", [Scenario.API_DOWN] * 2),
        ("captured-am025-firing-3-alerts-mixed-severity.json", [Scenario.ERROR_RATE_SPIKE] * 3),
        ("captured-am025-firing-bearer-single-alert.json", [Scenario.UNKNOWN]),
        ("captured-am025-firing-max-alerts-truncated.json", [Scenario.MEMORY_LEAK_OOM] * 2),
    ],
)
def test_captured_fixtures_classify_as_the_catalogue_says(
    name: str, scenarios: list[Scenario]
) -> None:
    """Real Alertmanager bodies land on the catalogue's scenarios."""
    alerts = parse(fixture_bytes("alertmanager", name))
    assert [DEFAULT.classify(a).scenario for a in alerts] == scenarios


# --- Sentry- and Railway-shaped signals ------------------------------------------------------


def _sentry(name: str, edit: Any) -> Alert:
    payload = json.loads(fixture_bytes("sentry", name))
    edit(payload["data"])
    (alert,) = sentry.parse(json.dumps(payload).encode())
    return alert


def sentry_issue(title: str, culprit: str = "app.handlers in handle") -> Alert:
    """An issue.created whose title is `title` (Sentry's "Type: value")."""
    kind, _, value = title.partition(": ")

    def edit(data: dict[str, Any]) -> None:
        data["issue"].update(title=title, culprit=culprit, metadata={"type": kind, "value": value})

    return _sentry("docs-issue-created.json", edit)


def sentry_exception(module: str, kind: str, value: str) -> Alert:
    """An event_alert for an exception raised in `module` (the SDK's own module, e.g. openai)."""

    def edit(data: dict[str, Any]) -> None:
        event = data["event"]
        event["title"] = f"{kind}: {value}"
        event["exception"]["values"] = [{"module": module, "type": kind, "value": value}]

    return _sentry("docs-event_alert-triggered.json", edit)


def sentry_metric(aggregate: str | None, dataset: str, text: str = "") -> Alert:
    def edit(data: dict[str, Any]) -> None:
        rule = data["metric_alert"]["alert_rule"]
        rule.update(aggregate=aggregate, dataset=dataset)
        data["description_text"] = text or data["description_text"]

    return _sentry("docs-metric_alert-resolved.json", edit)


def railway_event(type_: str, **details: Any) -> Alert:
    payload = json.loads(fixture_bytes("railway", "docs-new-format-example-deployment-failed.json"))
    payload["type"] = type_
    payload["details"].update(details)
    return railway.parse(json.dumps(payload).encode())[0]


def railway_legacy(status: str) -> Alert:
    raw = fixture_bytes("railway", "derived-legacy-format-DEPLOY-failed.json")
    return railway.parse(raw.replace(b'"FAILED"', f'"{status}"'.encode()))[0]


SENTRY_ROWS = [
    (
        sentry_issue('OperationalError: FATAL: sorry, too many connections for role "app"'),
        Scenario.DATABASE_DOWN,
        Severity.P0,
    ),
    (sentry_issue("error: sorry, too many clients already"), Scenario.DATABASE_DOWN, Severity.P0),
    (
        sentry_issue(
            'OperationalError: connection to server at "db" (10.0.0.5), port 5432 failed: '
            "Connection refused"
        ),
        Scenario.DATABASE_DOWN,
        Severity.P0,
    ),
    (
        sentry_issue("Error: connect ECONNREFUSED 10.0.0.5:5432"),
        Scenario.DATABASE_DOWN,
        Severity.P0,
    ),
    (
        sentry_exception(
            "openai",
            "AuthenticationError",
            "Error code: 401 - {'error': {'message': 'Incorrect API key provided: sk-proj-****'}}",
        ),
        Scenario.LLM_PROVIDER_FAILURE,
        Severity.P1,
    ),
    (
        sentry_exception(
            "openai", "InternalServerError", "Error code: 503 - The server is overloaded"
        ),
        Scenario.LLM_PROVIDER_FAILURE,
        Severity.P1,
    ),
    (sentry_issue("Error: Invalid API key"), Scenario.LLM_PROVIDER_FAILURE, Severity.P1),
    (
        sentry_exception(
            "openai", "RateLimitError", "Error code: 429 - Rate limit reached for gpt-4o"
        ),
        Scenario.LLM_RATE_LIMITED,
        Severity.P2,
    ),
    (
        sentry_issue("RateLimitError: Rate limit reached for gpt-4o-mini on tokens per min"),
        Scenario.LLM_RATE_LIMITED,
        Severity.P2,
    ),
    (
        sentry_issue(
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
        ),
        Scenario.MEMORY_LEAK_OOM,
        Severity.P0,
    ),
    (sentry_issue("MemoryError: "), Scenario.MEMORY_LEAK_OOM, Severity.P0),
    (sentry_issue("JsonWebTokenError: jwt malformed"), Scenario.AUTH_BROKEN, Severity.P1),
    (sentry_issue("JsonWebTokenError: invalid signature"), Scenario.AUTH_BROKEN, Severity.P1),
    (
        sentry_issue('ProgrammingError: relation "tenants" does not exist'),
        Scenario.MIGRATION_MISSING,
        Severity.P1,
    ),
    (
        sentry_issue(
            "Error: Redis connection to redis:6379 failed - connect ECONNREFUSED 10.0.0.7:6379"
        ),
        Scenario.DEPENDENCY_DOWN,
        Severity.P1,
    ),
    (
        sentry_issue("CircuitBreakerError: circuit breaker is open for payments"),
        Scenario.DEPENDENCY_DOWN,
        Severity.P1,
    ),
    (
        sentry_issue(
            'IntegrityError: insert or update on table "orders" violates foreign key '
            'constraint "orders_user_id_fkey"'
        ),
        Scenario.DATA_CORRUPTION,
        Severity.P1,
    ),
    (
        sentry_issue("EventLogIntegrityError: event log integrity check failed at seq 1042"),
        Scenario.EVENTLOG_CORRUPTION,
        Severity.P1,
    ),
    (
        sentry_metric("p95(transaction.duration)", "transactions"),
        Scenario.API_HIGH_LATENCY,
        Severity.P1,
    ),
    (sentry_metric("failure_rate()", "transactions"), Scenario.ERROR_RATE_SPIKE, Severity.P1),
    (sentry_metric("count()", "events"), Scenario.ERROR_RATE_SPIKE, Severity.P1),
    (
        sentry_metric(None, "", "5 events in the last 10 minutes"),
        Scenario.ERROR_RATE_SPIKE,
        Severity.P1,
    ),
    (
        sentry_metric("count()", "transactions", "120 transactions in the last minute"),
        Scenario.UNKNOWN,
        Severity.P3,
    ),  # throughput is not an error rate
    (sentry_issue("ReferenceError: blooopy is not defined"), Scenario.UNKNOWN, Severity.P3),
]

RAILWAY_ROWS = [
    (railway_event("Deployment.failed"), Scenario.DEPLOY_FAILED, Severity.P1),
    (railway_legacy("FAILED"), Scenario.DEPLOY_FAILED, Severity.P1),
    (railway_event("Deployment.crashed"), Scenario.API_DOWN, Severity.P0),
    (railway_legacy("CRASHED"), Scenario.API_DOWN, Severity.P0),
    (railway_event("Deployment.oomKilled"), Scenario.MEMORY_LEAK_OOM, Severity.P0),
    (
        railway_event(
            "Deployment.failed", commitMessage="fix: too many connections, jwt malformed"
        ),
        Scenario.DEPLOY_FAILED,
        Severity.P1,
    ),  # a commit message never decides
    (railway_event("VolumeAlert.triggered"), Scenario.UNKNOWN, Severity.P3),
]


@pytest.mark.parametrize(
    ("signal", "scenario", "severity"),
    SENTRY_ROWS + RAILWAY_ROWS,
    ids=lambda v: f"{v.source}:{v.summary[:40]}" if isinstance(v, Alert) else str(v),
)
def test_sentry_and_railway_signals_map_to_their_catalogue_row(
    signal: Alert, scenario: Scenario, severity: Severity
) -> None:
    """Each catalogue signal a Sentry or Railway alert carries lands on its scenario/severity."""
    found = DEFAULT.classify(signal)
    assert (found.scenario, found.severity) == (scenario, severity)


def test_the_rows_cover_every_scenario_sentry_and_railway_can_signal() -> None:
    """Sentry and Railway signal these catalogue rows; the others come from Alertmanager only."""
    assert {row[1] for row in SENTRY_ROWS} == {
        Scenario.DATABASE_DOWN,
        Scenario.LLM_PROVIDER_FAILURE,
        Scenario.LLM_RATE_LIMITED,
        Scenario.MEMORY_LEAK_OOM,
        Scenario.AUTH_BROKEN,
        Scenario.MIGRATION_MISSING,
        Scenario.DEPENDENCY_DOWN,
        Scenario.DATA_CORRUPTION,
        Scenario.EVENTLOG_CORRUPTION,
        Scenario.API_HIGH_LATENCY,
        Scenario.ERROR_RATE_SPIKE,
        Scenario.UNKNOWN,
    }
    assert {row[1] for row in RAILWAY_ROWS} == {
        Scenario.DEPLOY_FAILED,
        Scenario.API_DOWN,
        Scenario.MEMORY_LEAK_OOM,
        Scenario.UNKNOWN,
    }


def test_a_sentry_exception_named_like_an_alert_cannot_pick_an_acting_rule() -> None:
    """Any client with the public DSN can name an exception `DeployFailed`: it stays unknown."""
    assert DEFAULT.classify(sentry_issue("DeployFailed: x")).scenario is Scenario.UNKNOWN
    assert DEFAULT.classify(sentry_issue("PostgresDown: x")).scenario is Scenario.UNKNOWN


SENTRY_FIXTURES = {
    "docs-error-created.json": [Scenario.UNKNOWN],
    "docs-event_alert-triggered.json": [Scenario.UNKNOWN],
    "docs-installation-created.json": [],
    "docs-issue-created.json": [Scenario.UNKNOWN],
    "docs-metric_alert-resolved.json": [Scenario.ERROR_RATE_SPIKE],
    "ipe-mocks-metric_alert-critical.json": [Scenario.ERROR_RATE_SPIKE],
    "zulip-issue-created-exception.json": [Scenario.UNKNOWN],
    "zulip-issue-resolved.json": [Scenario.UNKNOWN],
    "zulip-legacy-webhooks-plugin-python-exception.json": [Scenario.UNKNOWN],
}
RESOLUTIONS = [Scenario.DEPLOY_FAILED, Scenario.API_DOWN, Scenario.MEMORY_LEAK_OOM]
RAILWAY_FIXTURES = {
    "docs-legacy-format-DEPLOY-example.json": [],
    "docs-new-format-example-deployment-failed.json": [Scenario.DEPLOY_FAILED],
    "observed-test-webhook-deployed-empty-details.json": [],
    "derived-legacy-format-DEPLOY-building.json": [],
    "derived-legacy-format-DEPLOY-crashed.json": [Scenario.API_DOWN],
    "derived-legacy-format-DEPLOY-failed.json": [Scenario.DEPLOY_FAILED],
    "derived-legacy-format-DEPLOY-success.json": RESOLUTIONS,
    "derived-new-format-deployment-building.json": [],
    "derived-new-format-deployment-crashed.json": [Scenario.API_DOWN],
    "derived-new-format-deployment-deployed.json": RESOLUTIONS,
    "derived-new-format-deployment-oomKilled.json": [Scenario.MEMORY_LEAK_OOM],
}


@pytest.mark.parametrize(
    ("source", "name", "scenarios"),
    [("sentry", n, s) for n, s in SENTRY_FIXTURES.items()]
    + [("railway", n, s) for n, s in RAILWAY_FIXTURES.items()],
)
def test_every_sentry_and_railway_fixture_classifies_as_the_catalogue_says(
    source: str, name: str, scenarios: list[Scenario]
) -> None:
    """Every stored Sentry and Railway body lands on the catalogue's scenarios (or on none)."""
    assert sorted(SENTRY_FIXTURES) == fixture_names("sentry")
    assert sorted(RAILWAY_FIXTURES) == fixture_names("railway")
    parser = sentry if source == "sentry" else railway
    alerts = parser.parse(fixture_bytes(source, name))
    assert [DEFAULT.classify(a).scenario for a in alerts] == scenarios


def test_the_readme_staging_rule_example_works() -> None:
    """The rule the README shows for Railway parses and makes a staging deploy failure P3."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```toml\n(\[\[rules\]\]  # PLANTAO_CONFIG\n.*?)```", readme, re.S)
    assert found is not None
    classifier = Classifier.from_config(parse_config(found.group(1), "README.md"))
    payload = json.loads(fixture_bytes("railway", "docs-new-format-example-deployment-failed.json"))
    production = railway.parse(json.dumps(payload).encode())[0]
    payload["resource"]["environment"]["name"] = "staging-eu"
    staging = railway.parse(json.dumps(payload).encode())[0]
    assert classifier.classify(staging).severity is Severity.P3
    assert classifier.classify(production).severity is Severity.P1
