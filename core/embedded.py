"""The embedded store for `plantao dev` without REDIS_URL: an in-process Redis (fakeredis).

It lives in memory and is lost on exit; `plantao dev` says so on start. fakeredis lacks INFO,
which ARQ's worker calls at start-up, so the socket below answers it with a minimal report.
"""

from __future__ import annotations

from typing import Any

from fakeredis import FakeServer
from fakeredis._clients._async import FakeAsyncRedisConnection, FakeReader, FakeWriter
from fakeredis._commands import command
from fakeredis._socket import AsyncFakeSocket
from redis.asyncio import ConnectionPool

_INFO = (
    b"# Server\r\nredis_version:7.0.0\r\nredis_mode:embedded\r\n"
    b"# Memory\r\nused_memory:0\r\nused_memory_human:0B\r\n"
    b"# Clients\r\nconnected_clients:1\r\n"
)


class _Socket(AsyncFakeSocket):
    @command(name="info", fixed=(), repeat=(bytes,))
    def info(self, *_sections: bytes) -> bytes:
        return _INFO


class _Connection(FakeAsyncRedisConnection):
    async def _connect(self) -> None:
        if self._server is None or not self._server.connected:
            raise self._connection_error_class("embedded store is stopped")
        self._sock = _Socket(
            self._server,
            self.db,
            client_class=self._client_class,
            lua_modules=self._lua_modules,
            client_info=self._client_info,
        )
        self._reader = FakeReader(self._sock)
        self._writer = FakeWriter(self._sock)


def embedded_pool(server: FakeServer | None = None, **kwargs: Any) -> ConnectionPool:
    """A connection pool on an in-process store; pass the same server to share it."""
    return ConnectionPool(connection_class=_Connection, server=server or FakeServer(), **kwargs)
