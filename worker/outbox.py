"""The Slack outbox: every message is recorded in Redis before it is sent, and one sender sends
them in order, one channel at a time at Slack's pace (worker/outbox_sender.py). Keys are listed
in core/outbox.py.

- Recorded first: a job enqueues and returns; Slack being down only grows the queue.
- Never twice: an item is marked with its attempt before the request; an item found marked
  (the worker died, or Slack timed out or 5xx'd) is looked up by its message metadata before it
  is posted again.
- Order and priority: items go out by (class, sequence); P0/P1 are class 0. A reply or update
  waits for its incident's top-level message.
- Pace: `min_interval_s` between requests per channel, Retry-After honoured exactly (and kept
  in Redis so a restarted sender honours it too), exponential back-off on 5xx and timeouts.
- Storms: the replies of one thread queued together go out as one digest message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog
from arq.connections import ArqRedis

from core.outbox import DEDUP, HOLD, ITEM, LOCK, QUEUE, SEQ, TS
from core.store import now_ms, redis_errors
from worker import outbox_refused

log = structlog.get_logger()
HEAD = 50  # items looked at per pick
DIGEST_MAX = 20  # replies merged into one digest message
MAX_BLOCKS = 50  # Slack: blocks per message
TEXT_LIMIT = 3000
DEDUP_TTL_S = 30 * 24 * 3600
LOCK_MS = 15_000
IDLE_S = 0.05
BACKOFF_MAX_S = 30.0
LOOKBACK_S = 120.0  # a message is looked up from this long before its item was recorded

# ARGV: dedup, replace, class, kind, incident, channel, text, blocks, now, dedup ttl
_ENQUEUE = f"""
local dedup, replace = ARGV[1], ARGV[2]
local dk = '{DEDUP}' .. dedup
if dedup ~= '' then
  local existing = redis.call('GET', dk)
  if existing then
    if replace ~= '1' then return existing end
    local ik = '{ITEM}' .. existing
    if redis.call('HGET', ik, 'state') == 'queued' then
      redis.call('HSET', ik, 'text', ARGV[7], 'blocks', ARGV[8])
      return existing
    end
  end
end
local id = redis.call('INCR', '{SEQ}')
redis.call('HSET', '{ITEM}' .. id, 'id', id, 'kind', ARGV[4], 'incident', ARGV[5],
  'channel', ARGV[6], 'text', ARGV[7], 'blocks', ARGV[8], 'state', 'queued', 'attempts', 0,
  'lead', '', 'created', ARGV[9])
redis.call('ZADD', '{QUEUE}', tonumber(ARGV[3]) * 1e12 + id, id)
if dedup ~= '' then redis.call('SET', dk, id, 'EX', ARGV[10]) end
return tostring(id)
"""

# KEYS[1] lock; ARGV: instance, lease ms. 1 when this instance holds (or took) the lease.
_LEAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


# KEYS[1] lock; ARGV: instance. Gives the lease up if this instance holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Kind(StrEnum):
    POST = "post"  # a top-level message (an incident's, or a notice)
    UPDATE = "update"  # chat.update of the incident's top-level message
    REPLY = "reply"  # a message in the incident's thread


@dataclass(frozen=True)
class Item:
    id: str
    kind: Kind
    incident: str
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    state: str
    attempts: int
    lead: str  # the item whose message carried this one (set when an attempt starts)
    created_ms: int


def _item(raw: dict[bytes, bytes]) -> Item:
    d = {k.decode(): v.decode() for k, v in raw.items()}
    return Item(
        d["id"],
        Kind(d["kind"]),
        d.get("incident", ""),
        d["channel"],
        d.get("text", ""),
        json.loads(d.get("blocks", "[]")),
        d.get("state", "queued"),
        int(d.get("attempts", 0)),
        d.get("lead", ""),
        int(d.get("created", 0)),
    )


class Outbox:
    def __init__(self, redis: ArqRedis, channel: str) -> None:
        self.redis, self.channel = redis, channel
        self._enqueue = redis.register_script(_ENQUEUE)
        self._lead = redis.register_script(_LEAD)
        self._release = redis.register_script(_RELEASE)

    async def enqueue(
        self,
        kind: Kind,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        incident: str = "",
        dedup: str = "",
        replace: bool = False,
        urgent: bool = False,
    ) -> str:
        """Record a message to send; with `dedup` it is recorded once (`replace`: the newest
        content wins while it is still queued). Returns the item id."""
        args = [
            dedup,
            "1" if replace else "0",
            0 if urgent else 1,
            kind.value,
            incident,
            self.channel,
            text,
            json.dumps(blocks),
            now_ms(),
            DEDUP_TTL_S,
        ]
        async with redis_errors():
            out = await self._enqueue(keys=[], args=args)
        return out.decode() if isinstance(out, bytes) else str(out)

    async def head(self, n: int = HEAD) -> list[Item]:
        async with redis_errors():
            ids = await self.redis.zrange(QUEUE, 0, n - 1)
            async with self.redis.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hgetall(ITEM + i.decode())
                rows = await pipe.execute()
        return [_item(r) for r in rows if r]

    async def top_ts(self, incident: str) -> str | None:
        async with redis_errors():
            ts = await self.redis.get(TS + incident)
        return ts.decode() if ts else None

    async def lead(self, instance: str, lease_ms: int = LOCK_MS) -> bool:
        """Whether `instance` is the one sender (taking or renewing the lease)."""
        async with redis_errors():
            return bool(await self._lead(keys=[LOCK], args=[instance, lease_ms]))

    async def release(self, instance: str) -> None:
        async with redis_errors():
            await self._release(keys=[LOCK], args=[instance])

    async def mark_sending(self, items: list[Item], lead: str) -> None:
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for item in items:
                pipe.hset(ITEM + item.id, mapping={"state": "sending", "lead": lead})
                pipe.hincrby(ITEM + item.id, "attempts", 1)
            await pipe.execute()

    async def requeue(self, items: list[Item]) -> None:
        """Nothing was sent (429): back to queued, no look-up needed next time."""
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for item in items:
                pipe.hset(ITEM + item.id, mapping={"state": "queued", "lead": ""})
            await pipe.execute()

    async def done(self, items: list[Item], ts: str | None = None) -> None:
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for item in items:
                if ts and item.kind is Kind.POST and item.incident:
                    pipe.set(TS + item.incident, ts, nx=True)
                pipe.zrem(QUEUE, item.id)
                pipe.delete(ITEM + item.id)
            await pipe.execute()

    async def dead(self, items: list[Item], error: str) -> None:
        """Slack refused them: kept aside with the error (worker/outbox_refused.py)."""
        tops = tuple(i.incident for i in items if i.kind is Kind.POST and i.incident)
        await outbox_refused.keep(self.redis, [i.id for i in items], error, tops)

    async def hold_ms(self) -> int:
        async with redis_errors():
            raw = await self.redis.get(HOLD)
        return int(raw) if raw else 0

    async def hold(self, seconds: float) -> None:
        until = now_ms() + int(seconds * 1000)
        async with redis_errors():
            await self.redis.set(HOLD, until, px=max(1, int(seconds * 1000)))

    async def queued(self) -> int:
        async with redis_errors():
            return int(await self.redis.zcard(QUEUE))
