"""Health endpoints: alive, ready (Redis), deep (worker heartbeat, queue depth, dead letters)."""

from __future__ import annotations

from collections.abc import Callable

from arq.connections import ArqRedis

from core.settings import Settings
from core.store import Store
from tests.conftest import MakeClient


async def test_deep_is_503_until_a_worker_beats(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> None:
    """Without a worker heartbeat the pipeline is not healthy; with a fresh one it is."""
    client = await make_client(make_settings(), any_redis)
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/health/ready")).status_code == 200
    deep = await client.get("/health/deep")
    assert deep.status_code == 503
    assert deep.json()["reason"] == "no worker heartbeat"
    await Store(any_redis).beat("worker", "w1")
    deep = await client.get("/health/deep")
    assert deep.status_code == 200
    body = deep.json()
    assert body["worker_heartbeat_age_s"] < 5
    assert body["queue_depth"] == 0 and body["dead_letters"] == 0
    assert body["scheduler_heartbeat_age_s"] is None
