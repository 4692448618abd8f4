"""Secret-rotation reminders (runbook 000 §1.1, 002 §6): reminders before a secret is due,
"due today", then escalation while it is overdue; `plantao rotations done NAME` records one.

Redis: `plantao:rotation:{NAME}` hash: last (ms), by, tracked (ms: when plantão started
counting for a secret never recorded as rotated).
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from arq.connections import ArqRedis

from core.duty_config import RotationConfig
from core.store import P, redis_errors
from core.timers import Timer
from worker.deps import Deps
from worker.duties.calendar import at_local, day_of_month, local_date
from worker.duties.context import Duty, DutyContext
from worker.duties.escalation import mentions
from worker.slack import render_notice

JOB = "remind_rotation"
REPEAT_OVERDUE = timedelta(days=7)  # after the last overdue stage, remind weekly until done


def _dt(ms: bytes | None) -> datetime | None:
    return None if not ms else datetime.fromtimestamp(int(ms) / 1000, UTC)


@dataclass(frozen=True)
class RotationState:
    name: str
    last: datetime | None  # the last recorded rotation
    by: str
    tracked: datetime | None  # when plantão started counting, if never rotated


class Rotations:
    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis

    async def get(self, name: str) -> RotationState:
        async with redis_errors():
            last, by, tracked = await self._redis.hmget(  # type: ignore[misc]
                f"{P}rotation:{name}", ["last", "by", "tracked"]
            )
        return RotationState(name, _dt(last), (by or b"").decode(), _dt(tracked))

    async def track(self, name: str, now: datetime) -> None:
        async with redis_errors():
            tracked = str(int(now.timestamp() * 1000))
            await self._redis.hsetnx(f"{P}rotation:{name}", "tracked", tracked)  # type: ignore[misc]

    async def done(self, name: str, at: datetime, by: str) -> RotationState:
        fields = {"last": int(at.timestamp() * 1000), "by": by}
        async with redis_errors():
            await self._redis.hset(f"{P}rotation:{name}", mapping=fields)  # type: ignore[misc]
        return await self.get(name)


def describe(cfg: RotationConfig) -> str:
    if cfg.every == "days":
        return f"every {cfg.days} days"
    if cfg.every == "monthly":
        return f"monthly on day {cfg.day}"
    months = ", ".join(calendar.month_abbr[m] for m in cfg.months)
    return f"quarterly ({months}) on day {cfg.day}"


def next_due(cfg: RotationConfig, state: RotationState, zone: str) -> date:
    """The date the secret is next due. A rotation counts for a due date when it happened at
    most `max(remind_days)` days before it (after the first reminder) or any time after."""
    base = state.last or state.tracked or datetime.now(UTC)  # not yet tracked: from now
    if cfg.every == "days":
        return local_date(base, zone) + timedelta(days=cfg.days)
    if state.last is not None:
        after = local_date(state.last, zone) + timedelta(days=max(cfg.remind_days, default=0))
    else:  # never recorded: due on the first scheduled day from when plantão started counting
        after = local_date(base, zone) - timedelta(days=1)
    months = cfg.months if cfg.every == "quarterly" else list(range(1, 13))
    for year in range(after.year, after.year + 3):
        for month in months:
            due = day_of_month(year, month, cfg.day)
            if due > after:
                return due
    raise ValueError(f"no due date for {describe(cfg)}")  # unreachable: months is never empty


def stages(cfg: RotationConfig) -> Iterator[int]:
    """Days relative to the due date when a reminder goes out: before, on it, overdue, weekly."""
    fixed = [*sorted(-d for d in cfg.remind_days), 0, *cfg.overdue_days]
    yield from fixed
    for n in itertools.count(1):
        yield fixed[-1] + n * REPEAT_OVERDUE.days


async def plan(ctx: DutyContext, now: datetime) -> int:
    """Schedule each secret's next reminder after `now`."""
    cfg_all, added = ctx.config.scheduler, 0
    rotations = Rotations(ctx.redis)
    for name, cfg in ctx.config.rotations.items():
        if not cfg.enabled:
            continue
        await rotations.track(name, now)
        due = next_due(cfg, await rotations.get(name), cfg_all.timezone)
        for offset in itertools.islice(stages(cfg), 1000):
            moment = at_local(due + timedelta(days=offset), cfg_all.rotations_at, cfg_all.timezone)
            if moment > now:
                args = (name, due.isoformat(), str(offset))
                timer = Timer(f"rotation:{name}:{due.isoformat()}:{offset:+d}", JOB, moment, args)
                added += await ctx.timers.schedule(timer)
                break
    return added


def _audience(deps: Deps, cfg: RotationConfig, offset: int) -> list[str]:
    policy = deps.config.escalation
    if offset <= 0:
        return policy.first_responder
    if len(cfg.overdue_days) > 1 and offset >= cfg.overdue_days[1]:
        return policy.incident_commander
    return policy.escalation_engineer


async def fire(deps: Deps, timer: Timer) -> str:
    """Post the reminder unless the secret was rotated since it was scheduled."""
    name, due, offset = timer.args[0], timer.args[1], int(timer.args[2])
    cfg = deps.config.rotations.get(name)
    if cfg is None or not cfg.enabled:
        return f"skipped: {name} is no longer configured"
    state = await Rotations(deps.store.redis).get(name)
    current = next_due(cfg, state, deps.config.scheduler.timezone)
    if current.isoformat() != due:
        return f"skipped: rotated {state.last:%Y-%m-%d} by {state.by}; next due {current}"
    if offset < 0:
        what = f"rotation due in {-offset} day(s), on {due}"
    elif offset == 0:
        what = f"rotation due today ({due})"
    else:
        what = f"rotation OVERDUE by {offset} day(s) (due {due})"
    head = f"{mentions(_audience(deps, cfg, offset))} {name}: {what}".strip()
    last = f"{state.last:%Y-%m-%d} by {state.by}" if state.last else "never recorded"
    lines = [
        f"schedule: {describe(cfg)}; last rotation: {last}",
        f"how: runbook {cfg.runbook or '000 §1'}",
        f"when done: `plantao rotations done {name}`",
        *([timer.late_note()] if timer.late else []),
    ]
    await deps.slack.post(render_notice(head, [("Secret rotation", lines)]))
    return f"posted: {what}"


DUTY = Duty("rotations", plan, timedelta(minutes=1))
