"""The intake's Redis pipe (webhook/redis_pipe.py): concurrent calls share one connection and each
gets its own reply; an error reply reaches only its caller; a dead or silent Redis fails the calls
in flight with a RedisError (503 at the intake), and the next call connects again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from arq.connections import ArqRedis
from redis.exceptions import RedisError, ResponseError

from core.queue import connect
from core.settings import Settings
from tests.conftest import MakeClient
from tests.support import senders
from tests.support.redis_server import RedisServer
from webhook.redis_pipe import Pipe, PipedScript

ECHO = "return ARGV[1]"
FAIL_ON_BOOM = "if ARGV[1] == 'boom' then return redis.error_reply('ERR boom') end return ARGV[1]"


@pytest.fixture
async def redis(private_redis: RedisServer) -> AsyncIterator[ArqRedis]:
    client = connect(private_redis.url)
    yield client
    await client.aclose()


async def test_concurrent_calls_share_one_connection_and_get_their_own_replies(
    redis: ArqRedis,
) -> None:
    """200 calls at once, the script loaded by the first: every caller gets its own argument
    back, and Redis saw one connection from the pipe."""
    pipe = Pipe(redis)
    script = PipedScript(pipe, ECHO)
    before = int((await redis.info("clients"))["connected_clients"])
    replies = await asyncio.gather(*(script(keys=[], args=[f"call-{i}"]) for i in range(200)))
    assert replies == [f"call-{i}".encode() for i in range(200)]
    assert int((await redis.info("clients"))["connected_clients"]) == before + 1
    await pipe.aclose()


async def test_an_error_reply_reaches_only_its_caller(redis: ArqRedis) -> None:
    """One failing call among many: it raises, the ones before and after it get their replies."""
    pipe = Pipe(redis)
    script = PipedScript(pipe, FAIL_ON_BOOM)
    args = ["a", "b", "boom", "c", "d"]
    results = await asyncio.gather(
        *(script(keys=[], args=[a]) for a in args), return_exceptions=True
    )
    assert results[:2] == [b"a", b"b"] and results[3:] == [b"c", b"d"]
    assert isinstance(results[2], ResponseError) and "boom" in str(results[2])
    assert await script(keys=[], args=["after"]) == b"after"
    await pipe.aclose()


async def test_a_dead_redis_fails_the_call_and_a_restarted_one_serves_the_next(
    redis: ArqRedis, private_redis: RedisServer
) -> None:
    """Killed: the call raises a RedisError (never hangs). Restarted, without its scripts: the
    next call connects again and loads the script."""
    pipe = Pipe(redis)
    script = PipedScript(pipe, ECHO)
    assert await script(keys=[], args=["x"]) == b"x"
    private_redis.kill()
    with pytest.raises(RedisError):
        await script(keys=[], args=["y"])
    private_redis.start()
    assert await script(keys=[], args=["z"]) == b"z"
    await pipe.aclose()


async def test_a_silent_redis_times_out_the_calls_in_flight(
    redis: ArqRedis, private_redis: RedisServer
) -> None:
    """A Redis that stops answering (SIGSTOP): every call in flight fails within the timeout
    with a RedisError; once it answers again a new connection serves the next call."""
    pipe = Pipe(redis, timeout_s=0.3)
    script = PipedScript(pipe, ECHO)
    assert await script(keys=[], args=["x"]) == b"x"
    assert private_redis.process is not None
    pid = private_redis.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(script(keys=[], args=[str(i)]) for i in range(5)), return_exceptions=True
        )
        assert time.monotonic() - started < 2.0
        assert all(isinstance(r, RedisError) for r in results), results
    finally:
        os.kill(pid, signal.SIGCONT)
    assert await script(keys=[], args=["back"]) == b"back"
    await pipe.aclose()


async def test_concurrent_deliveries_through_the_pipe_each_open_their_incident(
    make_client: MakeClient, make_settings: Callable[..., Settings], redis: ArqRedis
) -> None:
    """50 deliveries at once through the api on a real Redis: 50 answers of 202, 50 incidents,
    each answer naming its own."""
    client: httpx.AsyncClient = await make_client(senders.intake_settings(make_settings), redis)

    async def deliver(i: int) -> httpx.Response:
        alert = {"status": "firing", "labels": {"alertname": "ServiceDown", "service": f"s{i}"}}
        body = {"version": "4", "status": "firing", "alerts": [alert]}
        return await client.post(**senders.alertmanager(json.dumps(body).encode()).kwargs())

    responses = await asyncio.gather(*(deliver(i) for i in range(50)))
    assert [r.status_code for r in responses] == [202] * 50
    incidents = {r.json()["incidents"][0] for r in responses}
    assert len(incidents) == 50
    assert await redis.zcard("plantao:incidents") == 50
