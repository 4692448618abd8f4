"""Classification: one row per catalogue signal an Alertmanager alert can carry (SCENARIOS.md)."""

from __future__ import annotations

import pytest

from core.config import PlantaoConfig, parse_config
from core.errors import ConfigError
from core.models import Alert, Scenario, Severity, Source
from tests.conftest import fixture_bytes
from webhook.classify import Classifier
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
        ("[[rules]\nname = ", "not valid TOML"),
        ('[[rules]]\nname = "x"\nscenario = "nope"\nmatch = {}', "rules.0.scenario"),
        (
            '[[rules]]\nname = "x"\nscenario = "unknown"\nmatch = { text = "(" }',
            "rules.0.match.text",
        ),
        ('[[rules]]\nname = "x"\nscenario = "unknown"\nmatch = { colour = "red" }', "colour"),
    ],
)
def test_a_bad_rule_file_fails_naming_file_and_place(text: str, complaint: str) -> None:
    """A broken rule is refused at load with the file name and where it is wrong."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/etc/plantao.toml")
    assert "/etc/plantao.toml" in str(caught.value)
    assert complaint in str(caught.value)


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
