"""The operator's run-time switches in Redis: the automation pause and the deploy freeze.

Both the api (to flip and show them) and the worker (worker/guards.py, to obey them) use this
module, so neither imports the other. Keys (all under `plantao:`):
  guard:pause   hash  reason, by, at (ms); present while automation is paused
  guard:freeze  hash  reason, by, at (ms); present while deploys are frozen
  guard:log     list  JSON {switch, on, reason, by, at}, newest first, capped at LOG_MAX
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from arq.connections import ArqRedis
from redis.asyncio.client import Pipeline

from core.store import P, now_ms, redis_errors

PAUSE_KEY = f"{P}guard:pause"
FREEZE_KEY = f"{P}guard:freeze"
LOG_KEY = f"{P}guard:log"
LOG_MAX = 1000  # switch changes kept for the audit trail (001 "Pausar Julia": recorded)
PAUSE, FREEZE = "pause", "freeze"
_KEYS = {PAUSE: PAUSE_KEY, FREEZE: FREEZE_KEY}


@dataclass(frozen=True)
class Switch:
    """A switch that is on: why, who turned it on, and when."""

    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Change:
    """One flip of a switch, as the log keeps it."""

    switch: str
    on: bool
    reason: str
    by: str
    at: datetime


class Switches:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis

    async def on(self, switch: str, reason: str, by: str) -> Switch:
        """Turn `switch` (pause or freeze) on, recording why and who; re-turning updates both."""
        at = now_ms()
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_KEYS[switch], mapping={"reason": reason, "by": by, "at": at})
            _log(pipe, {"switch": switch, "on": True, "reason": reason, "by": by, "at": at})
            await pipe.execute()
        return Switch(reason, by, _dt(at))

    async def off(self, switch: str, by: str, reason: str = "") -> Switch | None:
        """Turn `switch` off; returns what was on, or None if it was off already."""
        previous = await self.get(switch)
        entry = {"switch": switch, "on": False, "reason": reason, "by": by, "at": now_ms()}
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(_KEYS[switch])
            _log(pipe, entry)
            await pipe.execute()
        return previous

    async def get(self, switch: str) -> Switch | None:
        async with redis_errors():
            raw = await self.redis.hgetall(_KEYS[switch])  # type: ignore[misc]
        if not raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return Switch(data.get("reason", ""), data.get("by", ""), _dt(int(data.get("at", 0))))

    async def history(self, limit: int = 50) -> list[Change]:
        """The newest flips first."""
        async with redis_errors():
            raw = await self.redis.lrange(LOG_KEY, 0, limit - 1)  # type: ignore[misc]
        changes = []
        for item in raw:
            d = json.loads(item)
            changes.append(Change(d["switch"], bool(d["on"]), d["reason"], d["by"], _dt(d["at"])))
        return changes


def _log(pipe: Pipeline, entry: dict[str, object]) -> None:
    pipe.lpush(LOG_KEY, json.dumps(entry))
    pipe.ltrim(LOG_KEY, 0, LOG_MAX - 1)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
