"""Run-time switches in Redis: pause, deploy freeze, and per (kind, target) action budgets."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from arq.connections import ArqRedis

from worker.guards import (
    DEFAULT_BUDGETS,
    LOG_KEY,
    RESTART,
    ROLLBACK,
    Budget,
    Guards,
)


async def test_pause_records_reason_who_and_when(any_redis: ArqRedis) -> None:
    """A pause is visible with its reason and author until resume, which returns it."""
    guards = Guards(any_redis)
    assert await guards.state() is None
    paused = await guards.pause("DB migration running", by="ana")
    state = await guards.state()
    assert state is not None
    assert (state.reason, state.by, state.at) == ("DB migration running", "ana", paused.at)
    ended = await guards.resume(by="bruno")
    assert ended is not None and ended.reason == "DB migration running"
    assert await guards.state() is None
    assert await guards.resume(by="bruno") is None


async def test_pause_is_shared_by_every_worker(any_redis: ArqRedis) -> None:
    """A pause set through one Guards object is seen through another on the same Redis."""
    await Guards(any_redis).pause("incident review", by="ana")
    assert (await Guards(any_redis).state()) is not None


async def test_freeze_is_independent_of_pause(any_redis: ArqRedis) -> None:
    """Freezing deploys does not pause automation, and unfreezing ends only the freeze."""
    guards = Guards(any_redis)
    await guards.freeze("security breach suspected on api", by="incident 7")
    frozen = await guards.frozen()
    assert frozen is not None and frozen.by == "incident 7"
    assert await guards.state() is None
    await guards.unfreeze(by="ana")
    assert await guards.frozen() is None


async def test_switch_changes_are_kept_for_the_audit_trail(any_redis: ArqRedis) -> None:
    """Every pause, resume, freeze and unfreeze is logged, newest first, with who did it."""
    guards = Guards(any_redis)
    await guards.pause("p", by="ana")
    await guards.resume(by="bruno")
    await guards.freeze("f", by="carla")
    log = [json.loads(x) for x in await any_redis.lrange(LOG_KEY, 0, -1)]  # type: ignore[misc]
    assert [(e["switch"], e["on"], e["by"]) for e in log] == [
        ("freeze", True, "carla"),
        ("pause", False, "bruno"),
        ("pause", True, "ana"),
    ]


def test_default_budget_is_two_restarts_or_rollbacks_per_30_minutes() -> None:
    """The defaults follow runbook 004 S4: at most 2 restarts (or rollbacks) per 30 minutes."""
    for kind in (RESTART, ROLLBACK):
        assert DEFAULT_BUDGETS[kind] == Budget(2, timedelta(minutes=30))


async def test_budget_allows_two_then_refuses_with_a_wait(any_redis: ArqRedis) -> None:
    """The third restart of one service inside the window is refused, saying how long to wait."""
    guards = Guards(any_redis)
    assert (await guards.spend(RESTART, "api", "t1")).allowed
    assert (await guards.spend(RESTART, "api", "t2")).allowed
    third = await guards.spend(RESTART, "api", "t3")
    assert not third.allowed
    assert (third.used, third.limit) == (2, 2)
    assert 29 * 60 < third.retry_after_s <= 30 * 60


async def test_budgets_are_per_kind_and_target(any_redis: ArqRedis) -> None:
    """Restarts of one service use no budget of another service or of rollbacks."""
    guards = Guards(any_redis)
    for token in ("a", "b"):
        await guards.spend(RESTART, "api", token)
    assert (await guards.spend(RESTART, "worker", "c")).allowed
    assert (await guards.spend(ROLLBACK, "api", "d")).allowed
    assert not (await guards.budget(RESTART, "api")).allowed


async def test_reading_the_budget_spends_nothing(any_redis: ArqRedis) -> None:
    """`budget()` reports without spending: it can be asked any number of times."""
    guards = Guards(any_redis)
    for _ in range(5):
        state = await guards.budget(RESTART, "api")
    assert (state.allowed, state.used) == (True, 0)


async def test_refund_gives_back_an_unstarted_action(any_redis: ArqRedis) -> None:
    """A refunded action no longer counts against the budget."""
    guards = Guards(any_redis)
    await guards.spend(RESTART, "api", "a")
    await guards.spend(RESTART, "api", "b")
    await guards.refund(RESTART, "api", "b")
    assert (await guards.spend(RESTART, "api", "c")).allowed


async def test_budget_frees_up_when_the_window_passes(any_redis: ArqRedis) -> None:
    """Actions older than the window stop counting (a configured one-second window here)."""
    guards = Guards(any_redis, budgets={RESTART: Budget(1, timedelta(seconds=1))})
    assert (await guards.spend(RESTART, "api", "a")).allowed
    assert not (await guards.spend(RESTART, "api", "b")).allowed
    await asyncio.sleep(1.1)
    assert (await guards.spend(RESTART, "api", "c")).allowed


async def test_kinds_without_a_budget_are_unlimited(any_redis: ArqRedis) -> None:
    """A kind absent from the budget table is always allowed and reports no limit."""
    state = await Guards(any_redis).spend("maintenance", "api", "x")
    assert (state.allowed, state.limit) == (True, None)


async def test_concurrent_spenders_never_exceed_the_budget(real_redis: ArqRedis) -> None:
    """Eight workers racing for the same budget get exactly its limit of actions between them."""
    guards = [Guards(real_redis) for _ in range(8)]
    results = await asyncio.gather(
        *(g.spend(RESTART, "api", f"t{i}") for i, g in enumerate(guards))
    )
    assert sum(r.allowed for r in results) == 2
