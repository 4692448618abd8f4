"""The intake's road to Redis: one connection on which concurrent requests' EVALSHAs are written
back to back and their replies read in order by one reader task (what redis-py calls a pipeline,
across requests instead of inside one).

redis-py's pooled call spends about 40 µs of the api's CPU per command beyond the socket work
(pool lock, a zero-timeout read probe, a task per send for the socket timeout); under load the
pipe also sends several requests' commands in one write and Redis answers them after one fsync.
Measured: 1.3x the intake's deliveries per second for 10-alert bodies (bench/README.md).

Failure behaves as with the pool: a lost or silent connection fails every call in flight on it
with a RedisError (the intake answers 503, nothing is acknowledged), and the next call connects
again. Replies are matched to calls by order, so a connection whose order is in doubt (a timed-out
call) is closed, never reused.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.queue import REDIS_TIMEOUT_S

_REAL = (Connection, SSLConnection, UnixDomainSocketConnection)  # not the embedded store's


class _Link:
    """One connection, the calls waiting on it in send order, and the task reading its replies."""

    def __init__(self, conn: AbstractConnection) -> None:
        self.conn = conn
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.closed = False
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                try:
                    reply: Any = await self.conn.read_response(disconnect_on_error=False)
                except ResponseError as exc:  # an error reply (NOSCRIPT, a script's): in order
                    reply = exc
                waiter = self.waiting.popleft()
                if waiter.done():  # its caller gave up (cancelled)
                    continue
                if isinstance(reply, ResponseError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        except (RedisError, OSError, IndexError) as exc:
            await self.close(RedisConnectionError(f"Redis connection lost: {exc}"))

    async def close(self, error: RedisError) -> None:
        if self.closed:
            return
        self.closed = True
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if asyncio.current_task() is not self.reader:
            self.reader.cancel()
        await self.conn.disconnect(nowait=True)


class Pipe:
    """Commands on one shared connection of `redis`'s pool settings (URL, password, TLS)."""

    def __init__(self, redis: ArqRedis, timeout_s: float = REDIS_TIMEOUT_S) -> None:
        self._pool = redis.connection_pool
        self._timeout_s = timeout_s
        self._link: _Link | None = None
        self._connecting = asyncio.Lock()

    @staticmethod
    def usable(redis: ArqRedis) -> bool:
        """Only on a real Redis connection (the embedded store keeps redis-py's pool)."""
        return redis.connection_pool.connection_class in _REAL

    async def _current(self) -> _Link:
        link = self._link
        if link is not None and not link.closed:
            return link
        async with self._connecting:
            if self._link is None or self._link.closed:
                conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
                conn.socket_timeout = None  # the reader waits for replies; calls time out instead
                try:
                    async with asyncio.timeout(self._timeout_s):
                        await conn.connect()
                except TimeoutError as exc:
                    await conn.disconnect(nowait=True)
                    raise RedisTimeoutError("Timeout connecting to Redis") from exc
                self._link = _Link(conn)
            return self._link

    async def call(self, *args: Any) -> Any:
        link = await self._current()
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        link.waiting.append(waiter)  # before the write: replies come back in this order
        try:
            await link.conn.send_packed_command(link.conn.pack_command(*args), check_health=False)
        except (RedisError, OSError) as exc:
            waiter.cancel()
            await link.close(RedisConnectionError(f"Redis connection lost: {exc}"))
            raise
        try:
            async with asyncio.timeout(self._timeout_s):
                return await waiter
        except TimeoutError as exc:
            error = RedisTimeoutError(f"no reply from Redis within {self._timeout_s:g} s")
            await link.close(error)
            raise error from exc

    async def aclose(self) -> None:
        if self._link is not None:
            await self._link.close(RedisConnectionError("the api is stopping"))


class PipedScript:
    """A Lua script called through a Pipe, as redis-py's AsyncScript is called."""

    def __init__(self, pipe: Pipe, script: str) -> None:
        self._pipe = pipe
        self._script = script
        self._sha = hashlib.sha1(script.encode()).hexdigest()  # the id Redis gives the script

    async def __call__(
        self, keys: Sequence[str] | None = None, args: Iterable[Any] | None = None
    ) -> Any:
        argv = [*(keys or []), *(args or [])]
        try:
            return await self._pipe.call("EVALSHA", self._sha, len(keys or []), *argv)
        except NoScriptError:  # the first call on this Redis, or after it lost its scripts
            await self._pipe.call("SCRIPT", "LOAD", self._script)
            return await self._pipe.call("EVALSHA", self._sha, len(keys or []), *argv)
