"""PLANTAO_CONFIG: the operator's TOML file of monitored services and extra classification rules."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.cron import check_cron
from core.duty_config import (
    DEFAULT_REMINDERS,
    DEFAULT_ROTATIONS,
    EscalationConfig,
    Reminders,
    RolloutConfig,
    Rotations,
    SchedulerConfig,
    move_deprecated_rollout_keys,
)
from core.errors import ConfigError
from core.models import Scenario, Severity, Source
from core.tokens import TokenConfig


class ServiceConfig(BaseModel):
    """A service plantão watches. `url` is its base URL; health paths follow runbook 001."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    health_path: str = "/health"
    ready_path: str = "/health/ready"
    deep_path: str = "/health/deep"
    schema_path: str = "/health/schema"  # 001 "Fluxo de Migrations": applied schema version
    circuits_path: str = "/health/circuits"  # 000 §9.9: circuit breakers of the dependencies
    frontend_url: str | None = None  # 004 S5: the frontend's own URL (default: `url`)
    railway_project_id: str | None = None  # where the executor restarts / rolls back on Railway
    railway_environment_id: str | None = None
    railway_service_id: str | None = None
    database_url: str | None = None  # the monitored Postgres (DSN), for stats and idle-kill
    docs_url: str | None = None  # daily checklist: the API docs answer (runbook 000 §7.1)
    backup_status_url: str | None = None  # daily checklist: {"last_backup_at": ...} (000 §7.5)
    error_rate_url: str | None = None  # daily checklist: error rate in % (000 §7.3)
    redis_url: str | None = None  # dependency_down: PING it (001 "Health checks")
    llm_models_url: str | None = None  # 004 S3: GET the provider's models list with the key
    llm_api_key: SecretStr | None = None  # never logged; sent only to llm_models_url
    rollout_status_url: str | None = None  # 000 §9.5: {"currentPhase", "metrics.errorRate"}
    rollout_status_token: SecretStr | None = None  # bearer token, sent only to rollout_status_url
    rollout_action_url: str | None = None  # 000 §9.7: POST {"action": "rollback_phase"|"disable"}

    def endpoint(self, path: str) -> str | None:
        return None if self.url is None else self.url.rstrip("/") + path


class RuleMatch(BaseModel):
    """What an alert must look like for a rule to apply. Every given condition must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source | None = None
    alertname: list[str] = Field(default_factory=list)  # exact names, case-insensitive
    labels: dict[str, str] = Field(default_factory=dict)  # label -> regex (full match, no case)
    text: str | None = None  # regex searched in the summary and description (no case)
    expr: str | None = None  # regex searched in the Prometheus expression

    @field_validator("text", "expr")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            _check_regex(value)
        return value

    @field_validator("labels")
    @classmethod
    def _label_patterns_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _check_regex(pattern)
        return value


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc}): {pattern!r}") from exc


class Rule(BaseModel):
    """alert -> (scenario, severity). `severity` defaults to the catalogue's for the scenario."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    scenario: Scenario
    severity: Severity | None = None
    match: RuleMatch


class Inhibit(BaseModel):
    """An open incident of a `source` scenario at least as severe as `max_severity` suppresses
    alerts of the `target` scenarios on the same service (Alertmanager's inhibition, across
    sources)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: list[Scenario] = Field(min_length=1)
    target: list[Scenario] = Field(min_length=1)
    max_severity: Severity = Severity.P0


class IncidentsConfig(BaseModel):
    """How alerts group into incidents and when a resolved incident reopens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # fields of the group key: "service", "scenario", "source", or "label:<name>"
    group_by: list[str] = Field(default_factory=lambda: ["scenario", "service"], min_length=1)
    flap_window_s: float = Field(default=600.0, ge=0)  # 0 disables reopening
    stale_ack_s: float = Field(default=3600.0, gt=0)  # an ack with no activity re-notifies once

    @field_validator("group_by")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in ("service", "scenario", "source") and not name.startswith("label:"):
                raise ValueError(f"{name!r}: use service, scenario, source or label:<name>")
        return value


class SlackConfig(BaseModel):
    """Who may press Approve (README "Slack"): Slack user ids (U...) or user groups (S...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approvers: dict[Severity, list[str]] = Field(default_factory=dict)  # absent: anyone
    two_approvers: list[Severity] = Field(default_factory=list)  # destructive steps need two


class MaintenanceWindow(BaseModel):
    """A planned quiet period for one service: one-off (`starts`..`ends`) or recurring (`cron`
    gives each start, `duration_minutes` its length), in `timezone`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    service: str
    starts: datetime | None = None
    ends: datetime | None = None
    cron: str | None = None  # minute hour day-of-month month day-of-week
    duration_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    timezone: str = "America/Sao_Paulo"
    comment: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        if (self.cron is None) == (self.starts is None or self.ends is None):
            raise ValueError("give either cron (+ duration_minutes) or both starts and ends")
        if self.cron is not None:
            check_cron(self.cron)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        return self


class PlantaoConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    inhibit: list[Inhibit] | None = None  # None: the shipped defaults; [] turns inhibition off
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    # the scheduler's duties (core/duty_config.py; README "The scheduler's duties")
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    rotations: Rotations = Field(default_factory=lambda: dict(DEFAULT_ROTATIONS))
    reminders: Reminders = Field(default_factory=lambda: dict(DEFAULT_REMINDERS))
    rollouts: list[RolloutConfig] = Field(default_factory=list)
    tokens: list[TokenConfig] = Field(default_factory=list)  # operator API (core/tokens.py)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    # "<scenario>.<Action>" or "*.<Action>" -> auto | approve | never (worker/policies.py)
    policies: dict[str, Literal["auto", "approve", "never"]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _deprecated_rollout_keys(cls, data: object) -> object:
        return move_deprecated_rollout_keys(data)

    @field_validator("rollouts")
    @classmethod
    def _rollouts_name_services(
        cls, value: list[RolloutConfig], info: ValidationInfo
    ) -> list[RolloutConfig]:
        if "services" not in info.data:
            return value  # the services are wrong already: that error says it
        services: dict[str, ServiceConfig] = info.data["services"]
        seen: set[str] = set()
        for rollout in value:
            svc = services.get(rollout.service)
            if svc is None or svc.rollout_status_url is None:
                raise ValueError(
                    f"service {rollout.service!r} has no rollout_status_url: give it in "
                    f"[services.{rollout.service}]"
                )
            if rollout.service in seen:
                raise ValueError(f"service {rollout.service!r} is named twice: one per service")
            seen.add(rollout.service)
        return value

    def rollout_of(self, service: str) -> RolloutConfig | None:
        """The watched rollout of `service` ([[rollouts]]), if any."""
        return next((r for r in self.rollouts if r.service == service), None)

    @field_validator("policies")
    @classmethod
    def _policy_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            scenario, dot, action = key.partition(".")
            if not dot or not action or (scenario != "*" and scenario not in set(Scenario)):
                raise ValueError(
                    f"{key!r}: write <scenario>.<Action> or *.<Action>, e.g. "
                    '"deploy_failed.RollbackDeploy"'
                )
        return value


def parse_config(text: str, origin: str) -> PlantaoConfig:
    """Parse TOML config text; errors name the origin (file) and the offending place."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        return PlantaoConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            line = _line_of(text, e["loc"])
            where = f"{origin}:{line}" if line else origin
            place = ".".join(str(p) for p in e["loc"])
            problems.append(f"{where}: {place + ': ' if place else ''}{e['msg']}")
        raise ConfigError("; ".join(problems)) from exc


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The line an error is on: the N-th `[[rules]]` header for `rules.N`, then, going down the
    location's keys in order, the line that sets each. None when the text gives no clue (an
    inline array, a whole-file error)."""
    lines = text.splitlines()
    start, end, found, keys = 0, len(lines), None, list(loc)
    if len(keys) >= 2 and isinstance(keys[1], int):
        table = str(keys[0])
        header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        starts = [i for i, line in enumerate(lines) if header.match(line)]
        if keys[1] >= len(starts):
            return None  # written inline (`rules = [...]`): no header to point at
        start = found = starts[keys[1]]
        end = next((i for i in range(start + 1, end) if _new_table(lines[i], table)), end)
        keys = keys[2:]
    for key in (k for k in keys if isinstance(k, str)):
        sets = re.compile(rf"(?<![\w-]){re.escape(key)}(?![\w-])\s*(=|\]|\.)")
        at = next((i for i in range(found or start, end) if sets.search(lines[i])), None)
        if at is None:
            break
        found = at
    return None if found is None else found + 1


def _new_table(line: str, table: str) -> bool:
    """Whether `line` starts a table other than a sub-table of the current `[[table]]` entry."""
    head = line.strip()
    return head.startswith("[[") or (head.startswith("[") and not head.startswith(f"[{table}."))


def load_config(path: Path | None) -> PlantaoConfig:
    if path is None:
        return PlantaoConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"PLANTAO_CONFIG={path}: cannot read it: {exc.strerror}") from exc
    return parse_config(text, str(path))
