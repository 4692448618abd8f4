"""What the scheduler keeps in Redis: timers that fire exactly once, and its leader lease.

Key layout (under `plantao:`):
  timers                 zset   pending timer ids by due time (ms)
  timer:{id}             hash   job, args (JSON), due, created, keep; fired, late, outcome
  scheduler:leader       string the lease, "{instance}:{epoch}", expiring (SET NX PX)
  scheduler:epoch        int    the fencing counter: each acquisition takes the next value
  scheduler:lease        hash   token, acquired, renewed (ms): what /health/deep shows

A timer id is deterministic (`escalate:7:0:P0:1`, `checklist:2025-03-10T09:00`): scheduling it
again is a no-op, before and after it fired (for the timer's `keep`, 90 days unless told), so
every scheduler may plan the same timers. Firing is one Lua step that checks the leader's
fencing token, takes the timer out of the zset, marks it fired (late when it fires more than
`late_after` after its due time: everything was down) and enqueues its job `timer:{id}` with
the timer id as the only argument. Two schedulers, or one killed mid-tick, cannot fire it twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from arq.connections import ArqRedis

from core.queue import JOB_EXPIRES_MS, QUEUE_NAME
from core.store import P, hashes, now_ms, redis_errors

TIMERS_KEY = f"{P}timers"
LEASE_KEY = f"{P}scheduler:leader"
EPOCH_KEY = f"{P}scheduler:epoch"
LEASE_INFO_KEY = f"{P}scheduler:lease"
FIRED_TTL_S = 90 * 24 * 3600  # by default a fired or cancelled id stays taken this long
LATE_AFTER = timedelta(seconds=60)  # fired later than this after its due time: marked late
FIRE_BATCH = 100  # timers fired per tick at most; the rest on the next tick
TAKEN_CACHE = 10_000  # ids remembered per process as taken, to spare Redis the re-planning

_SCHEDULE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'job', ARGV[2], 'args', ARGV[3], 'due', ARGV[4],
  'created', ARGV[5], 'keep', ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
"""

_CANCEL = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cancelled', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# ARGV: now (ms, the scheduler's clock), batch, late after (ms), job expiry (ms), queue,
# fencing token ('' = none). A fired record is kept for its own `keep` (s). The job's queue
# score is Redis' own clock, so a test that moves the scheduler's clock ahead does not defer
# the job.
_FIRE = """
local P = 'plantao:'
local now, late_ms = tonumber(ARGV[1]), tonumber(ARGV[3])
if ARGV[6] ~= '' and redis.call('GET', P .. 'scheduler:leader') ~= ARGV[6] then
  return {}
end
local t = redis.call('TIME')
local real = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local fired = {}
local ids = redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', P .. 'timers', id)
  local key = P .. 'timer:' .. id
  local rec = redis.call('HMGET', key, 'job', 'due', 'fired')
  if rec[1] and not rec[3] then
    local late = (now - tonumber(rec[2]) > late_ms) and '1' or '0'
    redis.call('HSET', key, 'fired', ARGV[1], 'late', late)
    redis.call('EXPIRE', key, tonumber(redis.call('HGET', key, 'keep') or '7776000'))
    local job_id = 'timer:' .. id
    if redis.call('EXISTS', 'arq:job:' .. job_id, 'arq:result:' .. job_id) == 0 then
      local job = '{"t":null,"f":' .. cjson.encode(rec[1]) .. ',"a":[' .. cjson.encode(id) ..
        '],"k":{},"et":' .. real .. '}'
      redis.call('PSETEX', 'arq:job:' .. job_id, tonumber(ARGV[4]), job)
      redis.call('ZADD', ARGV[5], real, job_id)
    end
    table.insert(fired, id)
  end
end
return fired
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dt(ms: bytes | str | None) -> datetime | None:
    return None if not ms else datetime.fromtimestamp(int(ms) / 1000, UTC)


@dataclass(frozen=True)
class Timer:
    """A job to enqueue once at `due`. The job gets the timer id and reads the rest here."""

    id: str
    job: str
    due: datetime
    args: tuple[str, ...] = ()
    fired_at: datetime | None = None  # the scheduler's clock when it fired
    late: bool = False  # fired more than LATE_AFTER after `due` (everything was down)
    cancelled: bool = False
    outcome: str = ""  # what its job did, once it finished
    keep: timedelta = timedelta(seconds=FIRED_TTL_S)  # its id stays taken this long after firing

    def late_note(self) -> str:
        """'' when on time, else a line saying how late and why."""
        if not self.late or self.fired_at is None:
            return ""
        delay = int((self.fired_at - self.due).total_seconds() // 60)
        return f"late: due {self.due:%Y-%m-%d %H:%M} UTC, {delay} min ago; plantão was down"


def _timer(raw: dict[bytes, bytes]) -> Timer:
    data = {k.decode(): v.decode() for k, v in raw.items()}
    return Timer(
        id=data["id"],
        job=data["job"],
        due=datetime.fromtimestamp(int(data["due"]) / 1000, UTC),
        args=tuple(json.loads(data.get("args", "[]"))),
        fired_at=_dt(data.get("fired")),
        late=data.get("late") == "1",
        cancelled=bool(data.get("cancelled")),
        outcome=data.get("outcome", ""),
        keep=timedelta(seconds=int(data.get("keep") or FIRED_TTL_S)),
    )


class Timers:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._schedule = redis.register_script(_SCHEDULE)
        self._cancel = redis.register_script(_CANCEL)
        self._fire = redis.register_script(_FIRE)
        self._taken: set[str] = set()  # ids known to be taken: duties re-plan them every tick

    def forget(self) -> None:
        """Drop the cache of taken ids (a new leader reads Redis afresh)."""
        self._taken.clear()

    async def schedule(self, timer: Timer) -> bool:
        """Keep `timer` until it is due; False when its id was scheduled before (even if fired)."""
        if timer.id in self._taken:
            return False
        if len(self._taken) >= TAKEN_CACHE:
            self._taken.clear()
        added = await self._schedule_once(timer)
        self._taken.add(timer.id)
        return added

    async def _schedule_once(self, timer: Timer) -> bool:
        keys = [f"{P}timer:{timer.id}", TIMERS_KEY]
        keep = int(timer.keep.total_seconds())
        encoded = json.dumps(list(timer.args))
        args: list[str | int] = [timer.id, timer.job, encoded, _ms(timer.due), now_ms(), keep]
        async with redis_errors():
            return bool(await self._schedule(keys=keys, args=args))

    async def cancel(self, timer_id: str) -> bool:
        """Take a pending timer back; False when it already fired, was cancelled or never was."""
        keys = [f"{P}timer:{timer_id}", TIMERS_KEY]
        async with redis_errors():
            return bool(await self._cancel(keys=keys, args=[timer_id, now_ms(), FIRED_TTL_S]))

    async def get(self, timer_id: str) -> Timer | None:
        async with redis_errors():
            raw = await self.redis.hgetall(f"{P}timer:{timer_id}")  # type: ignore[misc]
        return _timer(raw) if raw else None

    async def pending(self, limit: int = 1000) -> list[Timer]:
        """Timers not yet fired, soonest first."""
        async with redis_errors():
            ids = await self.redis.zrange(TIMERS_KEY, 0, limit - 1)
        rows = await hashes(self.redis, [f"{P}timer:{timer_id.decode()}" for timer_id in ids])
        return [_timer(r) for r in rows if r]

    async def fire_due(
        self, now: datetime, *, fence: str = "", late_after: timedelta = LATE_AFTER
    ) -> list[str]:
        """Fire every timer due at `now`: enqueue its job once. With `fence` (the leader's lease
        token) nothing fires unless the lease still holds it. Returns the ids fired."""
        late_ms = _ms_delta(late_after)
        args: list[str | int] = [_ms(now), FIRE_BATCH, late_ms, JOB_EXPIRES_MS, QUEUE_NAME, fence]
        async with redis_errors():
            fired = await self._fire(keys=[], args=args)
        return [f.decode() for f in cast(list[bytes], fired)]

    async def settle(self, timer_id: str, outcome: str) -> None:
        """Record what the timer's job did; a re-run of the job then does nothing."""
        async with redis_errors():
            if await self.redis.exists(f"{P}timer:{timer_id}"):
                await self.redis.hset(f"{P}timer:{timer_id}", "outcome", outcome)  # type: ignore[misc]


def _ms_delta(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


@dataclass(frozen=True)
class Leader:
    """The scheduler instance holding the lease, as /health/deep reports it."""

    instance: str
    epoch: int
    lease_age_s: float | None  # since the leader last renewed its lease
    leading_for_s: float | None  # since it took the lease


async def leader(redis: ArqRedis) -> Leader | None:
    """The current lease holder, or None when no scheduler leads."""
    async with redis_errors():
        token = await redis.get(LEASE_KEY)
        info = await redis.hgetall(LEASE_INFO_KEY)  # type: ignore[misc]
    if not token:
        return None
    holder = token.decode()
    instance, _, epoch = holder.rpartition(":")
    data = {k.decode(): v.decode() for k, v in info.items()}
    now = now_ms()
    same = data.get("token") == holder
    renewed = int(data["renewed"]) if same and data.get("renewed") else None
    acquired = int(data["acquired"]) if same and data.get("acquired") else None
    return Leader(
        instance=instance,
        epoch=int(epoch) if epoch.isdigit() else 0,
        lease_age_s=None if renewed is None else max(0.0, (now - renewed) / 1000),
        leading_for_s=None if acquired is None else max(0.0, (now - acquired) / 1000),
    )


async def note_lease(redis: ArqRedis, token: str, acquired: bool) -> None:
    """The leader records when it took or renewed its lease (for /health/deep)."""
    now = now_ms()
    fields: dict[str, str | int] = {"token": token, "renewed": now}
    if acquired:
        fields["acquired"] = now
    async with redis_errors():
        await redis.hset(LEASE_INFO_KEY, mapping=fields)  # type: ignore[misc]
