"""The shared vocabulary: sources, scenarios, severities, alerts and incidents."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Source(StrEnum):
    ALERTMANAGER = "alertmanager"
    SENTRY = "sentry"
    RAILWAY = "railway"
    PLANTAO = "plantao"  # raised by plantão's own duties (checklist, rollouts, deploys): no route


class Severity(StrEnum):
    """P0 is the worst; string order is severity order ("P0" < "P1")."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class Scenario(StrEnum):
    """The scenario catalogue (SCENARIOS.md); values are the catalogue's ids."""

    DATABASE_DOWN = "database_down"
    API_HIGH_LATENCY = "api_high_latency"
    API_DOWN = "api_down"
    ERROR_RATE_SPIKE = "error_rate_spike"
    LLM_PROVIDER_FAILURE = "llm_provider_failure"
    LLM_RATE_LIMITED = "llm_rate_limited"
    MEMORY_LEAK_OOM = "memory_leak_oom"
    FRONTEND_DOWN = "frontend_down"
    AUTH_BROKEN = "auth_broken"
    AUTH_FAILURE_SPIKE = "auth_failure_spike"
    DATA_CORRUPTION = "data_corruption"
    EVENTLOG_CORRUPTION = "eventlog_corruption"
    DEPLOY_FAILED = "deploy_failed"
    ENVIRONMENT_MISMATCH = "environment_mismatch"
    MIGRATION_MISSING = "migration_missing"
    DEPENDENCY_DOWN = "dependency_down"
    TENANT_CONFLICT_SPIKE = "tenant_conflict_spike"
    RATE_LIMIT_ABUSE = "rate_limit_abuse"
    TENANT_SUSPENSION_CASCADE = "tenant_suspension_cascade"
    ROLLOUT_REGRESSION = "rollout_regression"
    SECURITY_BREACH = "security_breach"
    UNKNOWN = "unknown"


# The catalogue's default severity per scenario (SCENARIOS.md "sev" column).
CATALOG_SEVERITY: dict[Scenario, Severity] = {
    Scenario.DATABASE_DOWN: Severity.P0,
    Scenario.API_HIGH_LATENCY: Severity.P1,
    Scenario.API_DOWN: Severity.P0,
    Scenario.ERROR_RATE_SPIKE: Severity.P1,
    Scenario.LLM_PROVIDER_FAILURE: Severity.P1,
    Scenario.LLM_RATE_LIMITED: Severity.P2,
    Scenario.MEMORY_LEAK_OOM: Severity.P0,
    Scenario.FRONTEND_DOWN: Severity.P0,
    Scenario.AUTH_BROKEN: Severity.P1,
    Scenario.AUTH_FAILURE_SPIKE: Severity.P1,
    Scenario.DATA_CORRUPTION: Severity.P1,
    Scenario.EVENTLOG_CORRUPTION: Severity.P1,
    Scenario.DEPLOY_FAILED: Severity.P1,
    Scenario.ENVIRONMENT_MISMATCH: Severity.P0,
    Scenario.MIGRATION_MISSING: Severity.P1,
    Scenario.DEPENDENCY_DOWN: Severity.P1,
    Scenario.TENANT_CONFLICT_SPIKE: Severity.P2,
    Scenario.RATE_LIMIT_ABUSE: Severity.P2,
    Scenario.TENANT_SUSPENSION_CASCADE: Severity.P1,
    Scenario.ROLLOUT_REGRESSION: Severity.P1,
    Scenario.SECURITY_BREACH: Severity.P0,
    Scenario.UNKNOWN: Severity.P3,
}


class IncidentState(StrEnum):
    """triggered -> acknowledged -> mitigating -> monitoring -> resolved (core/lifecycle.py)."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Alert(BaseModel):
    """One alert from one source, normalised. `fingerprint` is the source-scoped dedup key."""

    model_config = ConfigDict(frozen=True)

    source: Source
    fingerprint: str
    name: str
    service: str
    firing: bool
    starts_at: str = ""  # the sender's own start time, verbatim: part of the dedup identity
    summary: str
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    link: str = ""
    expr: str = ""  # the Prometheus expression, when the sender tells it
    signed: bool = True  # False when the sender cannot be authenticated by a signature
    deployment: str = ""  # a successful deployment this alert reports (kept per service)


class Classification(BaseModel):
    """Which scenario and severity an alert means, and why (the rule and the fields it used)."""

    model_config = ConfigDict(frozen=True)

    scenario: Scenario
    severity: Severity
    rule: str
    why: str


class Incident(BaseModel):
    """An incident as the store holds it: one per (service, scenario) while open."""

    model_config = ConfigDict(frozen=True)

    id: str
    service: str
    scenario: Scenario
    severity: Severity
    state: IncidentState
    summary: str
    rule: str
    why: str
    source: Source
    link: str = ""
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    alert_count: int = 0
    duplicates: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    unsigned: bool = False  # opened by an unsigned source: confirm with the platform before acting
    sources: list[Source] = Field(default_factory=list)  # every source that alerted on it
    links: dict[str, str] = Field(default_factory=dict)  # source -> the newest link it gave
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    escalation: int = 0  # 0 none; 1 escalation engineer; 2 incident commander (runbook 004)
    silenced_by: str = ""  # the silence or maintenance window that keeps it quiet
    suppressed: int = 0  # alerts it inhibits, attached to its timeline
    reopened: int = 0  # times it came back within the flapping window


class TimelineEntry(BaseModel):
    """One event in an incident's history: what happened, when, and who or what did it."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    actor: str
    event: str
    detail: str = ""
