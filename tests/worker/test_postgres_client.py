"""The Postgres client against the machine's real PostgreSQL, in a scratch database of its own."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.errors import PlatformRefused, PlatformUnavailable
from tests.support.postgres import Connect, dbname, live_pids
from worker.clients.postgres import PostgresClient

SHORT = timedelta(seconds=1)  # stands in for the runbook's minutes: connections age in a test


async def test_stats_count_connections_and_idle_ones(scratch_dsn: str, connect: Connect) -> None:
    """Stats see our idle sessions once they pass the threshold, and the oldest one's age."""
    client = PostgresClient(scratch_dsn)
    db = dbname(scratch_dsn)
    for _ in range(3):
        await connect()
    fresh = await client.stats(SHORT, database=db)
    await asyncio.sleep(1.2)
    aged = await client.stats(SHORT, database=db)
    assert fresh.idle_over == 0
    assert aged.idle_over == 3
    assert aged.oldest_connection_s is not None and aged.oldest_connection_s >= 1.0
    assert 3 <= aged.connections <= aged.max_connections
    assert 0 < aged.usage <= 1
    assert aged.ping_ms > 0


async def test_idle_sessions_are_terminated_and_busy_ones_are_not(
    scratch_dsn: str, connect: Connect
) -> None:
    """Only sessions idle past the threshold end; a running query and an open transaction stay."""
    idle = [await connect() for _ in range(2)]
    busy, in_tx, young = await connect(), await connect(), await connect()
    busy_pid = busy.get_server_pid()
    sleeping = asyncio.create_task(busy.fetchval("SELECT pg_sleep(3)"))
    await in_tx.execute("BEGIN")
    await asyncio.sleep(1.2)
    await young.fetchval("SELECT 1")  # just used: idle for less than the threshold

    ended = await PostgresClient(scratch_dsn).terminate_idle(SHORT, database=dbname(scratch_dsn))

    idle_pids = sorted(c.get_server_pid() for c in idle)
    assert ended == idle_pids
    assert busy_pid not in ended
    left = await live_pids(scratch_dsn, wait_gone=idle_pids)
    assert not left & set(idle_pids)
    assert {busy_pid, in_tx.get_server_pid(), young.get_server_pid()} <= left
    assert await sleeping is None  # pg_sleep returns void: the query ran to its end


async def test_termination_is_limited_to_the_database_and_user_asked(
    scratch_dsn: str, connect: Connect
) -> None:
    """With another database or another user named, our idle sessions are left alone."""
    client = PostgresClient(scratch_dsn)
    conn = await connect()
    await asyncio.sleep(1.2)
    assert await client.terminate_idle(SHORT, database="some_other_db") == []
    assert await client.terminate_idle(SHORT, user="nobody_here") == []
    assert conn.get_server_pid() in await live_pids(scratch_dsn)
    assert await client.terminate_idle(SHORT, database=dbname(scratch_dsn), user="postgres") == [
        conn.get_server_pid()
    ]


async def test_an_unreachable_database_is_unavailable() -> None:
    """A refused connection raises PlatformUnavailable naming host and database, not the DSN."""
    client = PostgresClient("postgresql://app:s3cret@127.0.0.1:9/appdb", timeout_s=1)
    with pytest.raises(PlatformUnavailable, match=r"127\.0\.0\.1:9/appdb") as caught:
        await client.stats(SHORT)
    assert "s3cret" not in str(caught.value)


async def test_a_missing_database_is_a_refusal(scratch_dsn: str) -> None:
    """A database that does not exist is refused (retrying cannot help)."""
    client = PostgresClient(scratch_dsn + "_missing")
    with pytest.raises(PlatformRefused, match="InvalidCatalogNameError"):
        await client.stats(SHORT)
