"""Real scheduler processes (`plantao serve`, RUN_MODE=scheduler) on the real Redis: two run,
the leader is SIGKILLed, the other takes over and the escalation fires once; a timer due while
every scheduler was down fires once, late, when one starts again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from arq.connections import ArqRedis

from core.config import load_config
from core.settings import Settings
from core.store import Store
from core.timers import Leader, Timer, Timers, leader
from tests.conftest import REDIS_TEST_URL
from tests.support.fixtures import RunPlantao
from tests.support.http_recorder import HttpRecorder
from tests.support.processes import ManagedProcess
from tests.worker.sched_support import open_incident
from worker.runner import build_worker

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
CONFIG = """
[scheduler]
lease_s = 1
tick_s = 0.1
checklist = ""
[escalation]
escalation_engineer = ["U0ENGINEER"]
"""
ESCALATION = "escalate:1:0:P0:1"


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


async def current_leader(redis: ArqRedis, among: list[ManagedProcess]) -> ManagedProcess:
    """The process holding the lease (instance ids end in the pid)."""
    found: list[Leader] = []

    async def leads() -> bool:
        lead = await leader(redis)
        if lead is None or not any(lead.instance.endswith(f":{p.process.pid}") for p in among):
            return False
        found.append(lead)
        return True

    await eventually(leads, "a scheduler leads")
    return next(p for p in among if found[-1].instance.endswith(f":{p.process.pid}"))


async def test_an_escalation_fires_once_through_a_sigkill_of_the_leader(
    plantao: RunPlantao,
    real_redis: ArqRedis,
    make_recorder: Callable[[], HttpRecorder],
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    """Two schedulers; the P0's 2x-SLA escalation falls due 3 s after the leader is SIGKILLed:
    the survivor fires it, once; a third scheduler started after the survivor is killed too
    fires nothing again, and catches up a timer due while all were down, marked late. The
    worker then posts exactly one escalation, mentioning the engineer."""
    path = tmp_path / "plantao.toml"
    path.write_text(CONFIG, encoding="utf-8")
    env = {
        "REDIS_URL": REDIS_TEST_URL,
        "APP_ENV": "test",
        "RUN_MODE": "scheduler",
        "PLANTAO_CONFIG": str(path),
    }
    timers = Timers(real_redis)
    pair = [plantao(env), plantao(env)]
    first = await current_leader(real_redis, pair)
    await open_incident(Store(real_redis), ago=timedelta(minutes=30, seconds=-3))

    async def planned() -> bool:
        return await timers.get(ESCALATION) is not None

    await eventually(planned, "the leader plans the escalation")
    first.kill()
    killed_at = datetime.now(UTC)
    survivor = next(p for p in pair if p is not first)

    async def fired() -> bool:
        timer = await timers.get(ESCALATION)
        return timer is not None and timer.fired_at is not None

    await eventually(fired, "the survivor fires the escalation")
    timer = await timers.get(ESCALATION)
    assert timer is not None and timer.fired_at is not None and timer.fired_at > killed_at
    assert await current_leader(real_redis, [survivor]) is survivor
    survivor.kill()

    missed = Timer("reminder:weekly_review:missed", "post_reminder", killed_at - timedelta(hours=2))
    await timers.schedule(Timer(missed.id, missed.job, missed.due, ("weekly_review",)))
    third = plantao(env)

    async def caught_up() -> bool:
        late = await timers.get(missed.id)
        return late is not None and late.fired_at is not None

    await eventually(caught_up, "a new scheduler fires the missed timer")
    late = await timers.get(missed.id)
    assert late is not None and late.late
    assert await current_leader(real_redis, [third]) is third
    await asyncio.sleep(0.5)  # a few more ticks of the new leader
    again = await timers.get(ESCALATION)
    assert again is not None and again.fired_at == timer.fired_at

    slack = make_recorder()
    settings = make_settings(slack_webhook_url=slack.url)
    worker = build_worker(settings, load_config(path), real_redis, burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()
    texts = [str(b["text"]) for b in slack.json_bodies()]
    escalations = [t for t in texts if "escalated to the Escalation Engineer" in t]
    assert escalations == [
        "<@U0ENGINEER> [P0] api_down on api: ApiDown on api — escalated to the Escalation Engineer"
    ]
    assert "Reminder: Weekly review of metrics and alerts" in texts
