"""The daily verification checklist (runbook 000 §7): one summary at 09:00 America/Sao_Paulo,
each item passed or failed; a failed item opens an incident of the matching scenario."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis

from core.models import Scenario, Severity
from core.settings import Settings
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import Rig, make_rig
from worker.duties.checklist import parse_backup_time, parse_error_rate

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]
BEFORE_NINE = datetime(2025, 3, 12, 11, 59, tzinfo=UTC)  # a Wednesday, 08:59 in São Paulo (UTC-3)
NINE = datetime(2025, 3, 12, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def rig_with_checks(
    redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> tuple[Rig, HttpRecorder, HttpRecorder, HttpRecorder]:
    docs, backup, errors = make_recorder(), make_recorder(), make_recorder()
    toml = f"""
[services.api]
url = "{{service}}"
docs_url = "{docs.url}/api/docs"
backup_status_url = "{backup.url}/backup"
error_rate_url = "{errors.url}/rate"
"""
    rig = await make_rig(redis, make_recorder, make_settings, toml, services=())
    return rig, docs, backup, errors


def all_pass(backup: HttpRecorder, errors: HttpRecorder, at: datetime) -> None:
    backup.respond(200, {"last_backup_at": (at - timedelta(hours=10)).isoformat()})
    errors.respond(200, "0.2")


async def test_the_checklist_posts_one_summary_at_nine_with_every_item(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """At 09:00 local every check runs once and one summary lists each as passed."""
    rig, _, backup, errors = await rig_with_checks(real_redis, make_recorder, make_settings)
    all_pass(backup, errors, NINE)
    assert await rig.round(BEFORE_NINE) == []
    assert await rig.round(NINE) == ["checklist:2025-03-12T09:00"]
    await rig.round(NINE + timedelta(minutes=5))
    await rig.drain()
    [summary] = rig.texts()
    assert summary == "Daily checklist 2025-03-12: 4 of 4 checks passed"
    blocks = str(rig.slack.json_bodies()[0]["blocks"])
    for item in ("api · health", "api · docs", "api · backup", "api · error rate"):
        assert f"✅ {item}" in blocks
    assert "last backup 10.0 h ago" in blocks and "0.20 %" in blocks
    assert await rig.store.open_incident_ids() == []


async def test_failed_items_open_incidents_and_pass_the_next_day_to_resolve_them(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Docs down (api_down P2), backup 30 h old (P2), 3.5 % errors (error_rate_spike P1): three
    incidents, named in the summary; the next day's passing checks resolve them."""
    rig, docs, backup, errors = await rig_with_checks(real_redis, make_recorder, make_settings)
    rig.service.respond(200, "ok")
    docs.respond(404, "no docs")
    backup.respond(200, {"lastBackupAt": (NINE - timedelta(hours=30)).isoformat()})
    errors.respond(200, {"errorRate": 3.5})
    await rig.round(BEFORE_NINE)
    await rig.round(NINE)
    await rig.drain()
    [summary] = rig.matching("Daily checklist")
    assert summary == "Daily checklist 2025-03-12: 1 of 4 checks passed"
    found = await rig.store.incidents(await rig.store.open_incident_ids())
    kinds = sorted((i.scenario, i.severity) for i in found)
    assert kinds == [
        (Scenario.API_DOWN, Severity.P2),
        (Scenario.ERROR_RATE_SPIKE, Severity.P1),
        (Scenario.UNKNOWN, Severity.P2),
    ]
    assert all(i.rule == "plantao:checklist" and "runbook 000 §7" in i.why for i in found)
    assert len(rig.texts()) == 4  # the summary and one message per incident
    docs.respond(200, "docs")
    all_pass(backup, errors, NINE + DAY)
    await rig.round(NINE + DAY)
    await rig.drain()
    assert await rig.store.open_incident_ids() == []
    assert len(rig.matching("Resolved:")) == 3


async def test_a_failed_health_check_inhibits_the_error_rate_failure_of_its_service(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Health down (api_down P0) with 3.5 % errors: the error rate is a symptom (the shipped
    inhibition, as for a webhook's alert): it joins the outage's timeline, no incident of its
    own; docs down joins the outage's group."""
    rig, docs, backup, errors = await rig_with_checks(real_redis, make_recorder, make_settings)
    rig.service.respond(503, "down")
    docs.respond(404, "no docs")
    all_pass(backup, errors, NINE)
    errors.respond(200, {"errorRate": 3.5})
    await rig.round(BEFORE_NINE)
    await rig.round(NINE)
    await rig.drain()
    [outage] = await rig.store.incidents(await rig.store.open_incident_ids())
    assert (outage.scenario, outage.severity, outage.suppressed) == (
        Scenario.API_DOWN,
        Severity.P0,
        1,
    )
    events = [f"{e.event} {e.detail}" for e in await rig.store.timeline(outage.id)]
    assert any(e.startswith("alert.suppressed error_rate_spike on api") for e in events)
    assert len(rig.texts()) == 2  # the summary and the outage's message
    rig.service.respond(200, "ok")
    docs.respond(200, "docs")
    all_pass(backup, errors, NINE + DAY)
    await rig.round(NINE + DAY)
    await rig.drain()
    assert await rig.store.open_incident_ids() == []


async def test_a_checklist_missed_while_down_runs_once_on_start_marked_late(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Planned the evening before, everything down at 09:00: at 11:30 it runs once, saying so."""
    rig, _, backup, errors = await rig_with_checks(real_redis, make_recorder, make_settings)
    all_pass(backup, errors, NINE)
    await rig.round(NINE - timedelta(hours=14))
    fired = await rig.round(NINE + timedelta(hours=2, minutes=30))
    assert fired == ["checklist:2025-03-12T09:00"]
    assert await rig.round(NINE + timedelta(hours=3)) == []
    await rig.drain()
    assert len(rig.texts()) == 1
    assert "late: due 2025-03-12 12:00 UTC, 150 min ago" in str(rig.slack.json_bodies()[0])


@pytest.mark.parametrize(
    ("body", "percent"),
    [
        ("0.5", 0.5),
        ('{"errorRate": 2.5}', 2.5),
        ('{"error_rate": 0}', 0.0),
        (
            '{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"0.012"]}]}}',
            1.2,
        ),
    ],
)
def test_error_rates_are_read_in_percent(body: str, percent: float) -> None:
    """A bare number or errorRate is a percentage; a Prometheus query answers a ratio."""
    assert parse_error_rate(body) == pytest.approx(percent)


@pytest.mark.parametrize(
    "body",
    [
        '{"last_backup_at": "2025-03-10T02:00:00Z"}',
        '{"lastBackupAt": "2025-03-10T02:00:00Z"}',
        "2025-03-10T02:00:00Z",
    ],
)
def test_backup_times_are_read_from_json_or_a_bare_timestamp(body: str) -> None:
    """The backup status URL may answer JSON or just the time of the last backup."""
    assert parse_backup_time(body) == datetime(2025, 3, 10, 2, 0, tzinfo=UTC)


async def test_slack_down_retries_the_summary_then_dead_letters_it(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """A summary Slack refuses is retried, then dead-lettered and marked on its timer."""
    rig = await make_rig(real_redis, make_recorder, make_settings, job_max_tries=2)
    rig.slack.respond(500, "down")
    await rig.round(BEFORE_NINE)
    await rig.round(NINE)
    await rig.drain()
    assert len(rig.slack.requests) == 2  # the first try and one retry
    timer = await rig.timers.get("checklist:2025-03-12T09:00")
    assert timer is not None and timer.outcome.startswith("dead-lettered")
    assert await rig.store.dead_letters() == ["timer:checklist:2025-03-12T09:00"]
