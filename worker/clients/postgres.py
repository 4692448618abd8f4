"""The monitored PostgreSQL (ServiceConfig.database_url) through asyncpg: stats and one action.

Each call opens one short connection and closes it: plantão asks rarely and must not hold slots
on a database that may be out of them. Errors are wrapped where they enter: unreachable, timed
out or out of connection slots raise PlatformUnavailable; refused logins, missing privileges and
any other SQL error raise PlatformRefused. Messages name the host and database, never the DSN.

Visibility: a role without pg_read_all_stats sees other roles' sessions without their state, so
they count as connections but never as idle (and are never terminated).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import asyncpg

from core.errors import PlatformRefused, PlatformUnavailable

# SQLSTATE classes worth retrying: 08 connection exception, 53 insufficient resources
# (53300 too_many_connections), 57P03 cannot_connect_now (starting up), 57014 query_canceled.
TRANSIENT_SQLSTATES = ("08", "53", "57P03", "57014")

_STATS = """
SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
  current_setting('max_connections')::int AS max_connections,
  (SELECT count(*) FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND state = 'idle'
      AND state_change < clock_timestamp() - $1::interval
      AND ($2::text IS NULL OR datname = $2)) AS idle_over,
  (SELECT extract(epoch FROM clock_timestamp() - min(backend_start))::float8
     FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND ($2::text IS NULL OR datname = $2)) AS oldest_s
"""

# Only `idle` sessions (never `idle in transaction`, never active), never our own, and only
# those this role may signal, so one superuser's session cannot make the whole statement fail.
_TERMINATE = """
SELECT pid FROM (
  SELECT a.pid, pg_terminate_backend(a.pid) AS terminated
    FROM pg_stat_activity a
   WHERE a.backend_type = 'client backend'
     AND a.state = 'idle'
     AND a.pid <> pg_backend_pid()
     AND a.state_change < clock_timestamp() - $1::interval
     AND ($2::text IS NULL OR a.datname = $2)
     AND ($3::text IS NULL OR a.usename = $3)
     AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
          OR (NOT (SELECT rolsuper FROM pg_roles r WHERE r.oid = a.usesysid)
              AND (pg_has_role(a.usesysid, 'MEMBER')
                   OR pg_has_role('pg_signal_backend', 'MEMBER'))))
) t WHERE terminated
"""


@dataclass(frozen=True)
class DbStats:
    ping_ms: float  # SELECT 1, round trip on an open connection
    connections: int  # client backends on the whole server
    max_connections: int
    idle_over: int  # sessions idle for longer than the threshold asked
    oldest_connection_s: float | None  # age of the oldest client backend

    @property
    def usage(self) -> float:
        """Share of max_connections in use (runbook 004 S1 "too many connections")."""
        return self.connections / self.max_connections if self.max_connections else 0.0


class PostgresClient:
    def __init__(self, dsn: str, *, timeout_s: float = 5.0) -> None:
        self._dsn = dsn
        self._timeout = timeout_s
        self.where = _where(dsn)

    async def stats(self, idle_longer_than: timedelta, database: str | None = None) -> DbStats:
        """Read-only: ping, connection count, and idle sessions (in `database`, if given)."""
        conn = await self._connect()
        try:
            started = time.perf_counter()
            await conn.fetchval("SELECT 1")
            ping_ms = (time.perf_counter() - started) * 1000
            row = await conn.fetchrow(_STATS, idle_longer_than, database)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise self._wrap("stats", exc) from exc
        finally:
            await conn.close()
        oldest = row["oldest_s"]
        return DbStats(
            ping_ms=ping_ms,
            connections=int(row["connections"]),
            max_connections=int(row["max_connections"]),
            idle_over=int(row["idle_over"]),
            oldest_connection_s=None if oldest is None else float(oldest),
        )

    async def terminate_idle(
        self,
        idle_longer_than: timedelta,
        *,
        database: str | None = None,
        user: str | None = None,
    ) -> list[int]:
        """Terminate sessions idle for longer than the threshold; returns the pids ended."""
        conn = await self._connect()
        try:
            rows = await conn.fetch(_TERMINATE, idle_longer_than, database, user)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise self._wrap("terminate idle connections", exc) from exc
        finally:
            await conn.close()
        return sorted(int(r["pid"]) for r in rows)

    async def _connect(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(
                self._dsn, timeout=self._timeout, command_timeout=self._timeout
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise self._wrap("connect", exc) from exc

    def _wrap(self, what: str, exc: BaseException) -> PlatformUnavailable | PlatformRefused:
        message = f"Postgres {self.where}: {what}: {type(exc).__name__}: {exc}"[:300]
        if isinstance(exc, OSError | TimeoutError):
            return PlatformUnavailable(message)
        state = str(getattr(exc, "sqlstate", "") or "")
        if state.startswith(TRANSIENT_SQLSTATES) or isinstance(
            exc, asyncpg.exceptions.ConnectionDoesNotExistError
        ):
            return PlatformUnavailable(message)
        return PlatformRefused(message)


def _where(dsn: str) -> str:
    """host:port/database of a DSN, for messages (credentials left out)."""
    try:
        parts = urlsplit(dsn)
        host = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    except ValueError:
        return "(unparsable DSN)"
    return f"{host}{parts.path or '/'}"
