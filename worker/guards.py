"""Run-time safety switches in Redis, flipped by operators and read by worker/execute.py:
the global pause, the deploy freeze (both kept by core/switches.py, which the api shares), and
per (action kind, target) budgets.

They live in Redis, not in Settings, so they change without a restart and every worker sees the
same value at once (STYLE.md "Configuration"). Keys (all under `plantao:`):
  guard:pause, guard:freeze, guard:log   see core/switches.py
  budget:{kind}:{target}     zset  token -> time (ms) of each action spent inside the window
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from arq.connections import ArqRedis

from core.store import P, now_ms, redis_errors
from core.switches import FREEZE, FREEZE_KEY, LOG_KEY, LOG_MAX, PAUSE, PAUSE_KEY, Switch, Switches

__all__ = ["FREEZE_KEY", "LOG_KEY", "LOG_MAX", "PAUSE_KEY", "Switch"]  # moved to core/switches.py

RESTART, ROLLBACK, REDEPLOY = "restart", "rollback", "redeploy"


@dataclass(frozen=True)
class Budget:
    limit: int  # actions allowed inside `window`
    window: timedelta


# SCENARIOS.md memory_leak_oom and runbook 004 S4: "never restart in a loop" (Railway's own
# crash-loop restarts are the symptom). At most 2 per service per 30 minutes, then a human.
RESTART_BUDGET = Budget(limit=2, window=timedelta(minutes=30))
ROLLBACK_BUDGET = Budget(limit=2, window=timedelta(minutes=30))  # same rule: no rollback loops
DEFAULT_BUDGETS: Mapping[str, Budget] = {
    RESTART: RESTART_BUDGET,
    ROLLBACK: ROLLBACK_BUDGET,
    REDEPLOY: RESTART_BUDGET,  # a redeploy restarts the service too
}

_SPEND = """
local key, now, window, limit, token = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key)
if used >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, used, tonumber(oldest[2]) + window - now}
end
if ARGV[5] == '1' then
  redis.call('ZADD', key, now, token)
  redis.call('PEXPIRE', key, window)
  used = used + 1
end
return {1, used, 0}
"""


@dataclass(frozen=True)
class BudgetState:
    allowed: bool
    used: int
    limit: int | None  # None: this kind has no budget
    retry_after_s: float = 0.0  # when refused: until the oldest action leaves the window


class Guards:
    def __init__(self, redis: ArqRedis, budgets: Mapping[str, Budget] = DEFAULT_BUDGETS) -> None:
        self.redis = redis
        self.budgets = budgets
        self._spend = redis.register_script(_SPEND)
        self.switches = Switches(redis)

    async def pause(self, reason: str, by: str) -> Switch:
        """Pause all automation; steps are refused with code `paused` until `resume`."""
        return await self.switches.on(PAUSE, reason, by)

    async def resume(self, by: str, reason: str = "") -> Switch | None:
        """End the pause; returns the pause that ended, or None if there was none."""
        return await self.switches.off(PAUSE, by, reason)

    async def state(self) -> Switch | None:
        """The current pause, or None when automation runs."""
        return await self.switches.get(PAUSE)

    async def freeze(self, reason: str, by: str) -> Switch:
        """Freeze deploys (002 §5, 004 S10): restart, rollback and redeploy are refused."""
        return await self.switches.on(FREEZE, reason, by)

    async def unfreeze(self, by: str, reason: str = "") -> Switch | None:
        return await self.switches.off(FREEZE, by, reason)

    async def frozen(self) -> Switch | None:
        return await self.switches.get(FREEZE)

    async def budget(self, kind: str, target: str) -> BudgetState:
        """How much of the (kind, target) budget is left, without spending any."""
        return await self._budget(kind, target, "", spend=False)

    async def spend(self, kind: str, target: str, token: str) -> BudgetState:
        """Atomically take one action from the budget, or refuse when it is used up."""
        return await self._budget(kind, target, token, spend=True)

    async def refund(self, kind: str, target: str, token: str) -> None:
        """Give back an action that was spent but never started."""
        async with redis_errors():
            await self.redis.zrem(_budget_key(kind, target), token)

    async def _budget(self, kind: str, target: str, token: str, *, spend: bool) -> BudgetState:
        budget = self.budgets.get(kind)
        if budget is None:
            return BudgetState(allowed=True, used=0, limit=None)
        window_ms = int(budget.window.total_seconds() * 1000)
        args: list[str | int] = [now_ms(), window_ms, budget.limit, token, "1" if spend else "0"]
        async with redis_errors():
            allowed, used, wait_ms = await self._spend(keys=[_budget_key(kind, target)], args=args)
        return BudgetState(bool(allowed), int(used), budget.limit, max(0, int(wait_ms)) / 1000)


def _budget_key(kind: str, target: str) -> str:
    return f"{P}budget:{kind}:{target}"
