"""What a duty's scheduler half works with: Redis, the store, the timers and the config."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from arq.connections import ArqRedis

from core.config import PlantaoConfig
from core.store import Store
from core.timers import Timer, Timers
from worker.duties.calendar import next_start


@dataclass(frozen=True)
class DutyContext:
    redis: ArqRedis
    store: Store
    timers: Timers
    config: PlantaoConfig


# The scheduler half of a duty: look at Redis at `now` and schedule timers (or enqueue jobs);
# never any other I/O. Returns how many timers or jobs it added.
Plan = Callable[[DutyContext, datetime], Awaitable[int]]


@dataclass(frozen=True)
class Duty:
    name: str
    plan: Plan
    every: timedelta  # how often the leader runs `plan`; zero: every tick


async def schedule_next(
    ctx: DutyContext,
    name: str,
    expr: str,
    zone: str,
    job: str,
    now: datetime,
    args: tuple[str, ...] = (),
    keep: timedelta = timedelta(days=7),
) -> int:
    """Schedule the next start of cron `expr` after `now` as timer `{name}:{local start}`. Only
    the next start is ever scheduled: starts missed while everything was down collapse into
    the one timer already waiting, which fires once, late."""
    start = next_start(expr, now, zone)
    local = start.astimezone(ZoneInfo(zone))
    timer = Timer(f"{name}:{local:%Y-%m-%dT%H:%M}", job, start, args, keep=keep)
    return int(await ctx.timers.schedule(timer))
