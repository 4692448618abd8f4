"""The daily verification checklist (runbook 000 §7): each configured service's health, its docs
endpoint, the age of its last backup and its error rate; one Slack summary; a failed item
opens an incident of the matching scenario through the normal intake."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import AliasChoices, BaseModel, Field, TypeAdapter, ValidationError

from core.config import ServiceConfig
from core.models import Scenario, Severity
from core.timers import Timer
from handlers.types import Endpoint
from worker.deps import Deps
from worker.duties.alerts import Raised, raise_alerts
from worker.duties.calendar import local_date
from worker.duties.context import Duty, DutyContext, schedule_next
from worker.duties.fetch import fetch
from worker.slack import render_notice

JOB = "run_checklist"
# check -> (scenario, severity, runbook section) of the incident its failure opens
CHECKS = {
    "health": (Scenario.API_DOWN, Severity.P0, "000 §7.1"),
    "docs": (Scenario.API_DOWN, Severity.P2, "000 §7.1"),  # Swagger unreachable: secondary
    "backup": (Scenario.UNKNOWN, Severity.P2, "000 §7.5"),  # the catalogue has no backup row
    "error rate": (Scenario.ERROR_RATE_SPIKE, Severity.P1, "000 §7.3"),
}


@dataclass(frozen=True)
class Item:
    service: str
    check: str  # a key of CHECKS
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'✅' if self.passed else '❌'} {self.service} · {self.check}: {self.detail}"


class _Backup(BaseModel):  # the backup status URL's answer
    last_backup_at: datetime = Field(
        validation_alias=AliasChoices("last_backup_at", "lastBackupAt")
    )


class _Rate(BaseModel):  # {"errorRate": 0.4}: percent, as the rollout status API reports it
    error_rate: float = Field(validation_alias=AliasChoices("errorRate", "error_rate"))


class _PromSample(BaseModel):
    value: tuple[float, float]


class _PromData(BaseModel):
    result: list[_PromSample] = Field(min_length=1)


class _PromAnswer(BaseModel):  # Prometheus /api/v1/query: a ratio (0-1) in the first sample
    data: _PromData


def parse_backup_time(body: str) -> datetime:
    """`{"last_backup_at": <ISO 8601>}` (or `lastBackupAt`), or a bare ISO 8601 timestamp."""
    try:
        return _Backup.model_validate_json(body).last_backup_at
    except ValidationError:
        return TypeAdapter(datetime).validate_python(body.strip().strip('"'))


def parse_error_rate(body: str) -> float:
    """Percent: a bare number, `{"errorRate": n}`, or a Prometheus query result (a ratio)."""
    try:
        return float(body.strip())
    except ValueError:
        pass
    try:
        return _Rate.model_validate_json(body).error_rate
    except ValidationError:
        return _PromAnswer.model_validate_json(body).data.result[0].value[1] * 100


async def _docs(deps: Deps, name: str, url: str) -> Item:
    got = await fetch(deps, url)
    passed = got.status is not None and got.status < 400
    return Item(name, "docs", passed, f"{url} -> {got.describe()}")


async def _backup(deps: Deps, name: str, url: str, at: datetime) -> Item:
    limit = deps.config.scheduler.max_backup_age_h
    got = await fetch(deps, url)
    if not got.ok:
        return Item(name, "backup", False, f"backup status unknown: {got.describe()}")
    try:
        last = parse_backup_time(got.body)
    except ValidationError:
        return Item(name, "backup", False, f"backup status unreadable: {got.body[:100]!r}")
    age_h = (at - last).total_seconds() / 3600
    return Item(name, "backup", age_h < limit, f"last backup {age_h:.1f} h ago (limit {limit:g} h)")


async def _error_rate(deps: Deps, name: str, url: str) -> Item:
    limit = deps.config.scheduler.max_error_rate_pct
    got = await fetch(deps, url)
    if not got.ok:
        return Item(name, "error rate", False, f"error rate unknown: {got.describe()}")
    try:
        rate = parse_error_rate(got.body)
    except (ValidationError, json.JSONDecodeError):
        return Item(name, "error rate", False, f"error rate unreadable: {got.body[:100]!r}")
    return Item(name, "error rate", rate < limit, f"{rate:.2f} % (limit {limit:g} %)")


async def _health(deps: Deps, name: str) -> Item:
    check = await deps.probes.endpoint(name, Endpoint.HEALTH)
    return Item(name, "health", check.ok, check.describe())


async def check_service(deps: Deps, name: str, svc: ServiceConfig, at: datetime) -> list[Item]:
    checks = [_health(deps, name)] if svc.url else []
    if svc.docs_url:
        checks.append(_docs(deps, name, svc.docs_url))
    if svc.backup_status_url:
        checks.append(_backup(deps, name, svc.backup_status_url, at))
    if svc.error_rate_url:
        checks.append(_error_rate(deps, name, svc.error_rate_url))
    return list(await asyncio.gather(*checks))


def _raised(item: Item, day: str) -> Raised:
    scenario, severity, runbook = CHECKS[item.check]
    return Raised(
        duty="checklist",
        key=f"{item.service}:{item.check.replace(' ', '_')}",
        service=item.service,
        scenario=scenario,
        severity=severity,
        firing=not item.passed,
        summary=f"daily checklist: {item.check} failed on {item.service}: {item.detail}",
        why=f"daily verification checklist (runbook {runbook}): {item.check} failed",
        occurrence=day if not item.passed else "",  # each day's failure fires anew
    )


async def fire(deps: Deps, timer: Timer) -> str:
    """Run every check, open incidents for the failures (resolve those that pass), post once."""
    at = timer.fired_at or timer.due
    day = local_date(timer.due, deps.config.scheduler.timezone).isoformat()
    per_service = [check_service(deps, n, s, at) for n, s in deps.config.services.items()]
    items = [i for found in await asyncio.gather(*per_service) for i in found]
    failed = [i for i in items if not i.passed]
    opened = await raise_alerts(deps.store, deps.config, [_raised(i, day) for i in failed])
    await raise_alerts(deps.store, deps.config, [_raised(i, day) for i in items if i.passed])
    head = f"Daily checklist {day}: {len(items) - len(failed)} of {len(items)} checks passed"
    lines = [i.line() for i in items] or [
        "nothing to check: give services a url, docs_url, backup_status_url or error_rate_url"
    ]
    incidents = [f"incident {i} (see its own message)" for i in opened.incidents]
    late = [timer.late_note()] if timer.late else []
    sections = [("Checks (runbook 000 §7)", lines), ("Incidents", incidents), ("Note", late)]
    await deps.slack.post(render_notice(head, sections))
    return f"posted: {len(failed)} failed"


async def plan(ctx: DutyContext, now: datetime) -> int:
    cfg = ctx.config.scheduler
    if not cfg.checklist:
        return 0
    return await schedule_next(ctx, "checklist", cfg.checklist, cfg.timezone, JOB, now)


DUTY = Duty("checklist", plan, timedelta(minutes=1))
