"""Shared fixtures: settings, the real Redis (scratch database 15), the embedded store, the app."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

import httpx
import pytest
import redis as sync_redis
import structlog
from arq.connections import ArqRedis
from fakeredis import FakeServer

from core.config import PlantaoConfig
from core.queue import connect
from core.settings import Settings
from webhook.app import create_app

pytest_plugins = ["tests.support.fixtures", "tests.support.redis_server"]

FIXTURES = Path(__file__).parent / "fixtures"
_DB_LOCKS: list[TextIO] = []


def _scratch_db() -> int:
    """A scratch database of the machine's Redis (15 down to 8, never 0): tests flush it. Two
    test runs at once (two developers' shells) each lock their own, so neither flushes the
    other's; the lock dies with the process."""
    for db in range(15, 7, -1):
        lock = open(Path(tempfile.gettempdir()) / f"plantao-test-redis-db{db}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _DB_LOCKS.append(lock)
        return db
    return 15


# Chosen once per run: the environment carries it to a second import of this module.
if "REDIS_TEST_URL" not in os.environ:
    os.environ["REDIS_TEST_URL"] = f"redis://127.0.0.1:6379/{_scratch_db()}"
REDIS_TEST_URL = os.environ["REDIS_TEST_URL"]


def fixture_bytes(source: str, name: str) -> bytes:
    return (FIXTURES / source / name).read_bytes()


def fixture_names(source: str) -> list[str]:
    return sorted(p.name for p in (FIXTURES / source).glob("*.json"))


def _redis_or_skip(url: str) -> None:
    try:
        sync_redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except sync_redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the Redis at {url}: {exc}")
        pytest.skip(f"no Redis at {url} ({exc}); start one to run integration tests")


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """Settings with explicit values (never the environment), for one test."""

    def make(**values: Any) -> Settings:
        base: dict[str, Any] = {"app_env": "test", "worker_poll_delay_s": 0.01}
        base.update(values)
        return Settings(_env_file=None, **base)  # type: ignore[call-arg]

    return make


async def _open(kind: str) -> ArqRedis:
    if kind == "embedded":
        return connect(None, FakeServer())
    _redis_or_skip(REDIS_TEST_URL)
    client = connect(REDIS_TEST_URL)
    await client.flushdb()
    return client


async def _close(kind: str, client: ArqRedis) -> None:
    if kind == "real":
        await client.flushdb()
    await client.aclose()


@pytest.fixture
async def real_redis() -> AsyncIterator[ArqRedis]:
    """The real Redis (scratch database 15), empty at the start of the test."""
    client = await _open("real")
    yield client
    await _close("real", client)


@pytest.fixture
async def embedded_redis() -> AsyncIterator[ArqRedis]:
    """The embedded store `plantao dev` uses when REDIS_URL is unset."""
    client = await _open("embedded")
    yield client
    await _close("embedded", client)


@pytest.fixture(params=["embedded", "real"])
async def any_redis(request: pytest.FixtureRequest) -> AsyncIterator[ArqRedis]:
    """Both stores: behaviour must not depend on which one runs."""
    client = await _open(request.param)
    yield client
    await _close(request.param, client)


MakeClient = Callable[..., Any]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Factory `await make_client(settings, redis)` -> an httpx client on a running app."""
    async with AsyncExitStack() as stack:

        async def make(
            settings: Settings, redis: ArqRedis, config: PlantaoConfig | None = None
        ) -> httpx.AsyncClient:
            app = create_app(settings, redis, config)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://plantao.test")
            return await stack.enter_async_context(client)

        yield make
