"""Secret-rotation reminders (runbook 000 §1.1, 002 §6) and the runbook 002 §6 reminders:
before due, on the day, overdue with escalation; `plantao rotations done NAME` records one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from arq.connections import ArqRedis

from core.duty_config import DEFAULT_ROTATIONS, RotationConfig
from core.settings import Settings
from tests.conftest import REDIS_TEST_URL
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import Rig, make_rig
from worker.duties.rotations import Rotations, RotationState, next_due
from worker.main import main

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]
ZONE = "America/Sao_Paulo"
NO_CHECKLIST = """
[scheduler]
checklist = ""
"""
ONLY_JWT = (
    NO_CHECKLIST
    + """
[escalation]
first_responder = ["U0RESPOND"]
escalation_engineer = ["U0ENGINEER"]
incident_commander = ["U0COMMAND"]
[rotations.SESSION_SECRET]
enabled = false
[rotations.OPENAI_API_KEY]
enabled = false
[rotations.EXA_API_KEY]
enabled = false
[rotations.SSH_KEYS]
enabled = false
[reminders.weekly_review]
enabled = false
[reminders.backup_restore_test]
enabled = false
[reminders.iam_audit]
enabled = false
"""
)


def at(day: str, hour: int = 12) -> datetime:
    """`day` at `hour` UTC (09:00 in São Paulo for the default 12)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def state(last: str | None = None, tracked: str | None = None) -> RotationState:
    return RotationState(
        "X", at(last, 15) if last else None, "ana", at(tracked, 15) if tracked else None
    )


MONTHLY = DEFAULT_ROTATIONS["JWT_SECRET"]


@pytest.mark.parametrize(
    ("cfg", "given", "due"),
    [
        (MONTHLY, state("2025-01-25"), "2025-02-25"),  # on time
        (MONTHLY, state("2025-01-20"), "2025-02-25"),  # early, after the first reminder
        (MONTHLY, state("2025-01-28"), "2025-02-25"),  # a little late
        (MONTHLY, state("2025-01-10"), "2025-01-25"),  # too early to count for January
        (MONTHLY, state(tracked="2025-01-24"), "2025-01-25"),  # never recorded
        (DEFAULT_ROTATIONS["OPENAI_API_KEY"], state("2025-02-01"), "2025-05-01"),
        (DEFAULT_ROTATIONS["OPENAI_API_KEY"], state(tracked="2025-03-12"), "2025-05-01"),
        (DEFAULT_ROTATIONS["SSH_KEYS"], state("2025-01-01"), "2025-04-01"),
        (RotationConfig(every="monthly", day=31), state("2025-03-31"), "2025-04-30"),
    ],
)
def test_the_next_due_date_follows_the_schedule(
    cfg: RotationConfig, given: RotationState, due: str
) -> None:
    """Monthly on the 25th, quarterly Feb/May/Aug/Nov, every 90 days; short months clamp."""
    assert next_due(cfg, given, ZONE) == date.fromisoformat(due)


async def run_days(rig: Rig, first: date, last: date) -> None:
    """A round at 09:00 local and one a minute later, every day from `first` to `last`."""
    day = first
    while day <= last:
        await rig.round(at(day.isoformat()))
        await rig.round(at(day.isoformat()) + timedelta(minutes=1))
        day += timedelta(days=1)
    await rig.drain()


async def test_reminders_before_on_and_after_the_due_date_each_once(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """JWT_SECRET due 25 March: reminded 7 and 1 days before and on the day (responders), then
    overdue to the engineer (+1) and the commander (+7); recording it stops the overdue ones."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ONLY_JWT)
    await run_days(rig, date(2025, 3, 12), date(2025, 4, 1))
    # each exactly once; the jobs of one drain may post in any order
    assert sorted(rig.texts()) == sorted(
        [
            "<@U0RESPOND> JWT_SECRET: rotation due in 7 day(s), on 2025-03-25",
            "<@U0RESPOND> JWT_SECRET: rotation due in 1 day(s), on 2025-03-25",
            "<@U0RESPOND> JWT_SECRET: rotation due today (2025-03-25)",
            "<@U0ENGINEER> JWT_SECRET: rotation OVERDUE by 1 day(s) (due 2025-03-25)",
            "<@U0COMMAND> JWT_SECRET: rotation OVERDUE by 7 day(s) (due 2025-03-25)",
        ]
    )
    await Rotations(real_redis).done("JWT_SECRET", at("2025-04-02", 15), "ana")
    await run_days(rig, date(2025, 4, 2), date(2025, 4, 18))
    assert rig.texts()[5:] == ["<@U0RESPOND> JWT_SECRET: rotation due in 7 day(s), on 2025-04-25"]


async def test_a_reminder_planned_for_a_secret_rotated_since_is_not_posted(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """The timer for 1 day before fires after the rotation was recorded: it posts nothing."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ONLY_JWT)
    await run_days(rig, date(2025, 3, 17), date(2025, 3, 23))
    await Rotations(real_redis).done("JWT_SECRET", at("2025-03-23", 15), "ana")
    await rig.round(at("2025-03-24"))
    await rig.drain()
    assert rig.texts() == ["<@U0RESPOND> JWT_SECRET: rotation due in 7 day(s), on 2025-03-25"]
    timer = await rig.timers.get("rotation:JWT_SECRET:2025-03-25:-1")
    assert timer is not None and timer.outcome.startswith("skipped: rotated 2025-03-23 by ana")


async def test_the_weekly_quarterly_and_half_yearly_reminders(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Mondays 10:00 São Paulo the weekly review; 1 January the restore test and the IAM audit."""
    toml = NO_CHECKLIST + "\n".join(f"[rotations.{n}]\nenabled = false" for n in DEFAULT_ROTATIONS)
    rig = await make_rig(real_redis, make_recorder, make_settings, toml)
    for day in range(28, 32):  # Sunday 28 December 2025 .. Wednesday 31 December
        await rig.round(datetime(2025, 12, day, 13, 0, tzinfo=UTC))
        await rig.round(datetime(2025, 12, day, 13, 1, tzinfo=UTC))
    await rig.round(datetime(2026, 1, 1, 13, 0, tzinfo=UTC))
    await rig.round(datetime(2026, 1, 5, 13, 0, tzinfo=UTC))
    await rig.drain()
    assert sorted(rig.texts()) == [
        "Reminder: Half-yearly audit of IAM permissions",
        "Reminder: Quarterly backup-restore test (this week): restore the latest backup and "
        "check it",
        "Reminder: Weekly review of metrics and alerts",
        "Reminder: Weekly review of metrics and alerts",
    ]


async def test_rotations_done_records_a_rotation_from_the_command_line(
    real_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plantao rotations done NAME` records who and when; `plantao rotations` lists them all;
    an unknown name is refused with the known ones."""
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    monkeypatch.delenv("PLANTAO_CONFIG", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    args = ("rotations", "done", "JWT_SECRET", "--by", "ana", "--at", "2025-03-24")
    code, out, _ = await asyncio.to_thread(run, *args)
    row = json.loads(out)
    assert code == 0 and row["by"] == "ana" and row["next_due"] == "2025-04-25"
    code, out, _ = await asyncio.to_thread(run, "rotations")
    assert code == 0 and [json.loads(line)["name"] for line in out.splitlines()] == sorted(
        DEFAULT_ROTATIONS
    )
    code, _, err = await asyncio.to_thread(run, "rotations", "done", "JWT")
    assert code == 1 and "JWT_SECRET" in err
    saved = await Rotations(real_redis).get("JWT_SECRET")
    assert saved.last == datetime(2025, 3, 24, tzinfo=UTC) and saved.by == "ana"
