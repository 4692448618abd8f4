"""Fixtures for the machine's real PostgreSQL: a scratch database per test and sessions on it.

tests/worker/conftest.py imports them. Other people's databases are never touched: every test
that terminates sessions limits itself to its scratch database.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import asyncpg
import pytest

PG_ADMIN_DSN = os.environ.get("PG_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
Connect = Callable[[], Awaitable[asyncpg.Connection]]


@pytest.fixture
async def scratch_dsn() -> AsyncIterator[str]:
    """A fresh database for this test only, dropped (with its sessions) afterwards."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the PostgreSQL at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_DSN} ({exc})")
    name = f"plantao_t_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def connect(scratch_dsn: str) -> AsyncIterator[Connect]:
    """Factory for sessions on the scratch database; the survivors are closed after the test."""
    opened: list[asyncpg.Connection] = []

    async def make() -> asyncpg.Connection:
        opened.append(await asyncpg.connect(scratch_dsn))
        return opened[-1]

    yield make
    for conn in opened:
        if not conn.is_closed():
            conn.terminate()


def dbname(dsn: str) -> str:
    return dsn.rsplit("/", 1)[1]


async def live_pids(dsn: str, wait_gone: Iterable[int] = (), timeout: float = 5.0) -> set[int]:
    """Server pids of the sessions on the DSN's database, asked from a fresh session (not ours).

    With `wait_gone`, polls until those pids have left (a terminated backend takes a moment).
    """
    gone = set(wait_gone)
    conn = await asyncpg.connect(dsn)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                dbname(dsn),
            )
            pids = {int(r["pid"]) for r in rows}
            if not pids & gone or asyncio.get_running_loop().time() > deadline:
                return pids
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
