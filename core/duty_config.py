"""PLANTAO_CONFIG tables of the scheduler's duties: [scheduler], [escalation], [rotations.<NAME>],
[reminders.<name>] and [[rollouts]]. Defaults follow runbooks 000 §1.1/§7/§9, 002 §6 and 004."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)

from core.cron import check_cron
from core.models import Severity

log = structlog.get_logger()
SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")  # users U…/W…, user groups S… (Slack's own ids)
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc
    return name


def _cron_or_off(expr: str) -> str:
    if expr:
        check_cron(expr)
    return expr


def _slack_ids(ids: list[str]) -> list[str]:
    for item in ids:
        if not SLACK_ID.match(item):
            raise ValueError(f"{item!r} is not a Slack user (U…/W…) or user group (S…) id")
    return ids


Cron = Annotated[str, AfterValidator(_cron_or_off)]  # "" turns the duty off
Zone = Annotated[str, AfterValidator(_zone)]
SlackIds = Annotated[list[str], AfterValidator(_slack_ids)]


class SchedulerConfig(BaseModel):
    """The scheduler's lease and the schedules of its duties (cron in `timezone`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lease_s: float = Field(default=15.0, ge=0.5, le=300)  # a dead leader is replaced within this
    tick_s: float = Field(default=2.0, ge=0.05, le=60)
    timezone: Zone = "America/Sao_Paulo"
    late_after_s: float = Field(default=60.0, gt=0)  # a timer fired later than this is "late"
    checklist: Cron = "0 9 * * *"  # runbook 000 §7: the daily verification checklist
    rotations_at: str = "09:00"  # time of day rotation reminders go out
    rollouts: Cron = "*/5 * * * *"  # runbook 000 §9: the rollout watchdog
    reconcile_every_s: float = Field(default=60.0, ge=1)
    postmortem_after_s: float = Field(default=600.0, ge=0, le=20 * 3600)  # 004: within 24 h
    verify_window_s: float = Field(default=300.0, ge=0, le=3600)  # /health/deep after a deploy
    verify_interval_s: float = Field(default=15.0, ge=1, le=600)
    max_backup_age_h: float = Field(default=24.0, gt=0)  # runbook 000 §7.5
    max_error_rate_pct: float = Field(default=1.0, gt=0)  # runbook 000 §7.3
    public_url: str | None = None  # where the operator API is reachable, for links in Slack

    @field_validator("rotations_at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        if not TIME_OF_DAY.match(value):
            raise ValueError(f"{value!r}: give the time of day as HH:MM")
        return value


_RESPOND_MINUTES = {Severity.P0: 15.0, Severity.P1: 60.0, Severity.P2: 240.0, Severity.P3: 1440.0}


def _all_severities(value: dict[Severity, float]) -> dict[Severity, float]:
    return {**_RESPOND_MINUTES, **value}


class EscalationConfig(BaseModel):
    """Runbook 004 escalation matrix: who each role is, and when an unacknowledged incident
    reaches it (multiples of its severity's response SLA)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_responder: SlackIds = Field(default_factory=list)
    escalation_engineer: SlackIds = Field(default_factory=list)
    incident_commander: SlackIds = Field(default_factory=list)
    respond_minutes: Annotated[dict[Severity, float], AfterValidator(_all_severities)] = Field(
        default_factory=lambda: dict(_RESPOND_MINUTES)
    )
    engineer_after: float = Field(default=2.0, gt=0)  # 004: 2x SLA -> Escalation Engineer
    commander_after: float = Field(default=4.0, gt=0)  # 004: 4x SLA -> Incident Commander
    backlog: list[Severity] = Field(
        default_factory=lambda: [Severity.P3]
    )  # 004: P3 48 h -> backlog


class RotationConfig(BaseModel):
    """When a secret is due for rotation: monthly / quarterly on `day`, or `days` after the last
    recorded rotation; reminders `remind_days` before, escalation `overdue_days` after."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every: Literal["monthly", "quarterly", "days"] = "monthly"
    day: int = Field(default=25, ge=1, le=31)  # day of the month (the month's last if shorter)
    months: list[int] = Field(default_factory=lambda: [2, 5, 8, 11])  # quarterly
    days: int = Field(default=90, ge=1)  # every = "days"
    remind_days: list[int] = Field(default_factory=lambda: [7, 1])
    overdue_days: list[int] = Field(default_factory=lambda: [1, 7])  # -> engineer, commander
    runbook: str = ""
    enabled: bool = True

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= m <= 12 for m in value):
            raise ValueError("months are 1-12, at least one")
        return sorted(set(value))

    @field_validator("remind_days", "overdue_days")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(d < 1 for d in value):
            raise ValueError("days are counted from the due date: use positive numbers")
        return sorted(set(value))


DEFAULT_ROTATIONS = {  # runbook 000 §1.1, 002 §6
    "JWT_SECRET": RotationConfig(every="monthly", day=25, runbook="000 §1.2"),
    "SESSION_SECRET": RotationConfig(every="monthly", day=25, runbook="000 §1.1"),
    "OPENAI_API_KEY": RotationConfig(every="quarterly", day=1, runbook="000 §1.3"),
    "EXA_API_KEY": RotationConfig(every="quarterly", day=1, runbook="000 §1.1"),
    "SSH_KEYS": RotationConfig(every="days", days=90, runbook="002 §6 scripts/rotate-ssh-keys.sh"),
}


class ReminderConfig(BaseModel):
    """A recurring reminder posted to Slack (runbook 002 §6 preventive maintenance)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: Cron
    text: str = Field(min_length=1)
    runbook: str = ""
    mention: SlackIds = Field(default_factory=list)
    timezone: Zone | None = None  # default: [scheduler] timezone
    enabled: bool = True


DEFAULT_REMINDERS = {  # runbook 002 §6 "Manutenção Preventiva"
    "weekly_review": ReminderConfig(
        cron="0 10 * * mon", text="Weekly review of metrics and alerts", runbook="002 §6"
    ),
    "backup_restore_test": ReminderConfig(
        cron="0 10 1 1,4,7,10 *",
        text="Quarterly backup-restore test (this week): restore the latest backup and check it",
        runbook="002 §6",
    ),
    "iam_audit": ReminderConfig(
        cron="0 10 1 1,7 *", text="Half-yearly audit of IAM permissions", runbook="002 §6"
    ),
}


def _over_defaults(defaults: Mapping[str, BaseModel]) -> Callable[[object], object]:
    """The operator's tables over the shipped ones, field by field: `[rotations.JWT_SECRET]
    day = 20` changes only the day, `enabled = false` turns a default off; new names are added."""

    def merge(value: object) -> object:
        if not isinstance(value, dict):
            return value  # pydantic reports the type error
        merged: dict[str, object] = dict(defaults)
        for name, table in value.items():
            base = defaults.get(name)
            if base is not None and isinstance(table, dict):
                merged[name] = {**base.model_dump(), **table}
            else:
                merged[name] = table
        return merged

    return merge


Rotations = Annotated[dict[str, RotationConfig], BeforeValidator(_over_defaults(DEFAULT_ROTATIONS))]
Reminders = Annotated[dict[str, ReminderConfig], BeforeValidator(_over_defaults(DEFAULT_REMINDERS))]

PHASE_MAX_ERROR_RATE = {"alpha": 5.0, "beta": 2.0, "ga": 1.0}  # runbook 000 §9.1, percent


class RolloutConfig(BaseModel):
    """A staged rollout the watchdog polls (runbook 000 §9): the status API is the named
    service's `rollout_status_url` (+ `rollout_status_token`), the one the rollout_regression
    handler reads too; this table turns the watch on and sets the phases' limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str = Field(min_length=1)  # a [services.<name>] with rollout_status_url
    feature: str = ""  # the flag's name in Slack; default: the status API's featureKey
    # percent per phase; phases not given keep the runbook's limit
    max_error_rate_pct: dict[str, float] = Field(default_factory=lambda: dict(PHASE_MAX_ERROR_RATE))

    @field_validator("max_error_rate_pct")
    @classmethod
    def _over_runbook(cls, value: dict[str, float]) -> dict[str, float]:
        return {**PHASE_MAX_ERROR_RATE, **{k.lower(): v for k, v in value.items()}}


# [[rollouts]] keys of the first spelling -> the service key that replaced them
DEPRECATED_ROLLOUT_KEYS = {
    "status_url": "rollout_status_url",
    "bearer_token": "rollout_status_token",
}


def move_deprecated_rollout_keys(data: object) -> object:
    """PLANTAO_CONFIG as read, with `[[rollouts]] status_url` / `bearer_token` (deprecated)
    moved to the named service's `rollout_status_url` / `rollout_status_token`. A value that
    differs from one the service already has is an error naming both places."""
    if not isinstance(data, dict) or not isinstance(data.get("rollouts"), list):
        return data
    services = dict(data.get("services") or {})
    rollouts = []
    for n, rollout in enumerate(data["rollouts"]):
        if not isinstance(rollout, dict) or not DEPRECATED_ROLLOUT_KEYS.keys() & rollout.keys():
            rollouts.append(rollout)
            continue
        rollout = dict(rollout)
        name = rollout.get("service")
        if not isinstance(name, str) or not name:
            raise ValueError(f"rollouts.{n}: give `service`, the service whose status API it is")
        service = services.get(name) or {}
        if isinstance(service, BaseModel):
            service = service.model_dump(exclude_unset=True)
        if not isinstance(service, dict):
            return data  # not a table: validating [services] says so
        service = dict(service)
        for old, new in DEPRECATED_ROLLOUT_KEYS.items():
            if old not in rollout:
                continue
            value = rollout.pop(old)
            have = service.get(new)
            if have is not None and _plain(have) != _plain(value):
                raise ValueError(
                    f"rollouts.{n}.{old} (deprecated) differs from services.{name}.{new}: "
                    f"keep only services.{name}.{new} (one staged rollout per service)"
                )
            service[new] = value
            log.warning(
                "config.deprecated", key=f"rollouts.{n}.{old}", use=f"services.{name}.{new}"
            )
        services[name] = service
        rollouts.append(rollout)
    return {**data, "services": services, "rollouts": rollouts}


def _plain(value: object) -> object:
    return value.get_secret_value() if isinstance(value, SecretStr) else value
