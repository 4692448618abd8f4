"""The scheduler's leader round: its loop fires timers, a broken duty does not stop the others,
/health/deep names the leader, and the duties' configuration and alerts fit the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from arq.connections import ArqRedis

from core.config import parse_config
from core.errors import ConfigError
from core.models import Alert, Classification, Scenario, Severity, Source
from core.settings import Settings
from core.store import Store, group_key
from core.timers import Timer, Timers
from tests.conftest import MakeClient
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import make_rig
from webhook.sources import SOURCES
from worker import scheduler as scheduler_module
from worker.duties import DUTIES
from worker.duties.context import Duty, DutyContext
from worker.scheduler import Scheduler

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]


async def test_the_running_leader_fires_due_timers_on_the_real_clock(
    real_redis: ArqRedis,
) -> None:
    """`Scheduler.run` takes the lease, beats and fires a timer that is due, once."""
    config = parse_config("[scheduler]\ntick_s = 0.05\nlease_s = 1\n", "test")
    store, timers = Store(real_redis), Timers(real_redis)
    await timers.schedule(Timer("reminder:weekly_review:now", "post_reminder", datetime.now(UTC)))
    task = asyncio.create_task(Scheduler(real_redis, store, "loop", config=config).run())
    try:
        for _ in range(100):
            fired = await timers.get("reminder:weekly_review:now")
            if fired is not None and fired.fired_at is not None:
                break
            await asyncio.sleep(0.02)
        assert fired is not None and fired.fired_at is not None and not fired.late
        assert await store.heartbeat_age_s("scheduler") is not None
        assert await real_redis.exists("arq:job:timer:reminder:weekly_review:now")
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=5)


async def test_a_failing_duty_does_not_stop_the_others(
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A duty whose plan raises is logged and skipped; the duties after it still plan."""

    async def broken(ctx: DutyContext, now: datetime) -> int:
        raise RuntimeError("a bug in one duty")

    monkeypatch.setattr(scheduler_module, "DUTIES", (Duty("broken", broken, timedelta(0)), *DUTIES))
    rig = await make_rig(real_redis, make_recorder, make_settings)
    await rig.round(datetime(2025, 3, 12, 11, 0, tzinfo=UTC))
    pending = await rig.timers.pending()
    assert pending and pending[0].id == "checklist:2025-03-12T09:00"


async def test_health_deep_names_the_leader_and_the_age_of_its_lease(
    real_redis: ArqRedis, make_client: MakeClient, make_settings: SettingsMaker
) -> None:
    """No scheduler: leader None; once one leads, /health/deep names it with a fresh lease."""
    client = await make_client(make_settings(), real_redis)
    body = (await client.get("/health/deep")).json()
    assert body["scheduler_leader"] is None and body["scheduler_lease_age_s"] is None
    leader = Scheduler(real_redis, Store(real_redis), "scheduler@host:42")
    assert await leader.tick()
    assert await leader.tick()
    body = (await client.get("/health/deep")).json()
    assert body["scheduler_leader"] == "scheduler@host:42"
    assert 0 <= body["scheduler_lease_age_s"] < 5


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        (["scenario", "service"], "api_down|api"),
        (["service"], "api"),
        (["scenario", "service", "label:duty"], "api_down|api|checklist"),
        (["source", "label:missing"], "plantao|"),
    ],
)
def test_duty_alerts_group_by_the_configured_fields(fields: list[str], key: str) -> None:
    """Alerts plantão raises itself group into incidents like any other (core.store.group_key)."""
    alert = Alert(
        source=Source.PLANTAO,
        fingerprint="plantao:checklist:api:health",
        name="plantao_checklist",
        service="api",
        firing=True,
        summary="s",
        labels={"duty": "checklist"},
    )
    found = Classification(scenario=Scenario.API_DOWN, severity=Severity.P0, rule="r", why="w")
    assert group_key(fields, alert, found) == key


async def test_plantao_alerts_have_no_webhook_route(
    real_redis: ArqRedis, make_client: MakeClient, make_settings: SettingsMaker
) -> None:
    """Source.PLANTAO is raised only by plantão's own duties: posting to it is refused."""
    assert Source.PLANTAO not in SOURCES
    client = await make_client(make_settings(), real_redis)
    response = await client.post("/webhooks/plantao", content=b"{}")
    assert response.status_code == 404


def test_the_default_schedules_follow_the_runbooks() -> None:
    """Checklist 09:00 and reminders in São Paulo time, rotations as runbook 000 §1.1 lists."""
    config = parse_config("", "test")
    assert config.scheduler.checklist == "0 9 * * *"
    assert config.scheduler.timezone == "America/Sao_Paulo"
    assert config.scheduler.rollouts == "*/5 * * * *"
    assert config.reminders["weekly_review"].cron == "0 10 * * mon"
    assert set(config.rotations) == {
        "JWT_SECRET",
        "SESSION_SECRET",
        "OPENAI_API_KEY",
        "EXA_API_KEY",
        "SSH_KEYS",
    }
    assert config.rotations["OPENAI_API_KEY"].months == [2, 5, 8, 11]
    assert config.rotations["SSH_KEYS"].days == 90
    assert [config.escalation.engineer_after, config.escalation.commander_after] == [2.0, 4.0]
    assert config.escalation.respond_minutes[Severity.P1] == 60


@pytest.mark.parametrize(
    ("toml", "complaint"),
    [
        ('[escalation]\nescalation_engineer = ["@ana"]', "not a Slack user"),
        ('[scheduler]\nchecklist = "0 25 * * *"', "outside 0-23"),
        ('[scheduler]\ntimezone = "Mars/Base"', "unknown timezone"),
        ("[rotations.JWT_SECRET]\nmonths = [13]", "months are 1-12"),
        ('[reminders.x]\ncron = "0 9 * * *"', "text"),
    ],
)
def test_bad_duty_settings_stop_start_up_naming_the_place(toml: str, complaint: str) -> None:
    """A wrong Slack id, cron, time zone or month is refused with the key that is wrong."""
    with pytest.raises(ConfigError, match=complaint):
        parse_config(toml, "plantao.toml")


def _readme_section() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = text.index("## The scheduler's duties")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_lists_every_duty_and_its_example_config_loads() -> None:
    """Each registered duty has a row in the README, and the example PLANTAO_CONFIG is valid."""
    section = _readme_section()
    rows = {
        "escalation": "| escalation",
        "post_deploy": "| post-deploy verification",
        "checklist": "| daily verification checklist",
        "rotations": "| secret-rotation reminders",
        "reminders": "| weekly review",
        "rollouts": "| rollout watchdog",
        "postmortems": "| post-mortem drafts",
        "reconcile": "| reconciler",
    }
    assert set(rows) == {d.name for d in DUTIES}
    assert all(row in section for row in rows.values())
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = parse_config(example, "README.md")
    assert config.rotations["DATABASE_URL"].days == 180
    assert config.rotations["JWT_SECRET"].day == 25 and config.rollouts[0].feature
