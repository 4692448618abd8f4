"""Messages Slack refused (`ok: false`: channel_not_found, invalid_blocks, not_in_channel ...):
kept, with Slack's error, for `REFUSED_KEEP_S` and at most `REFUSED_MAX`, so an operator can see
why and send them again once the cause is fixed (`plantao outbox refused`,
`plantao outbox retry ID…|--all`). A retried message goes back to the end of the queue, as
ordinary (not P0/P1) traffic.

An incident whose top-level post was refused has no thread: its replies and updates are set
aside too (worker/outbox_sender.py) rather than wait for ever, and `retry` of them all sends
the post first, then its thread."""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis

from core.outbox import DEAD, ITEM, ORPHANED, QUEUE
from core.store import now_ms, redis_errors

REFUSED_KEEP_S = 7 * 24 * 3600
REFUSED_MAX = 1000

# KEYS: dead zset; ARGV: now ms, keep ms, max, item prefix. Drops what is too old or too many.
_TRIM = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
local over = redis.call('ZCARD', KEYS[1]) - #gone - tonumber(ARGV[3])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], #gone, #gone + over - 1)) do
    table.insert(gone, id)
  end
end
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('DEL', ARGV[4] .. id)
end
return #gone
"""

# KEYS: dead zset, queue; ARGV: item prefix, orphaned prefix, ids... Back to the queue, in
# their first order; a top-level post queued again takes its incident's thread off hold.
_RETRY = """
local n = 0
for i = 3, #ARGV do
  local id, key = ARGV[i], ARGV[1] .. ARGV[i]
  if redis.call('ZREM', KEYS[1], id) == 1 and redis.call('EXISTS', key) == 1 then
    local incident = redis.call('HGET', key, 'incident') or ''
    if redis.call('HGET', key, 'kind') == 'post' and incident ~= '' then
      redis.call('DEL', ARGV[2] .. incident)
    end
    redis.call('HSET', key, 'state', 'queued', 'lead', '')
    redis.call('HDEL', key, 'error')
    redis.call('PERSIST', key)
    redis.call('ZADD', KEYS[2], 1e12 + tonumber(id), id)
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True)
class Refused:
    id: str
    kind: str
    incident: str
    text: str
    error: str
    refused_at_ms: int


async def keep(redis: ArqRedis, ids: list[str], error: str, tops: tuple[str, ...] = ()) -> None:
    """Move items Slack refused out of the queue into the refused set, then trim that set.
    `tops`: incidents whose top-level post this was (their threads are set aside too)."""
    at = now_ms()
    async with redis_errors():
        async with redis.pipeline(transaction=True) as pipe:
            for id_ in ids:
                pipe.zrem(QUEUE, id_)
                pipe.zadd(DEAD, {id_: at})
                pipe.hset(ITEM + id_, mapping={"state": "dead", "error": error})
                pipe.expire(ITEM + id_, REFUSED_KEEP_S)
            for incident in tops:
                pipe.set(ORPHANED + incident, ids[0], ex=REFUSED_KEEP_S)
            await pipe.execute()
        await trim(redis, at)


async def orphaned_by(redis: ArqRedis, incident: str) -> str | None:
    """The refused top-level post (item id) an incident's thread waits for in vain, if any."""
    async with redis_errors():
        raw = await redis.get(ORPHANED + incident)
    return raw.decode() if raw else None


async def trim(redis: ArqRedis, at_ms: int | None = None) -> int:
    args: list[str | int] = [at_ms or now_ms(), REFUSED_KEEP_S * 1000, REFUSED_MAX, ITEM]
    async with redis_errors():
        return int(await redis.register_script(_TRIM)(keys=[DEAD], args=args))


async def refused(redis: ArqRedis, limit: int = 100) -> list[Refused]:
    """The newest refused messages first, with Slack's error."""
    async with redis_errors():
        rows = await redis.zrevrange(DEAD, 0, limit - 1, withscores=True)
        out = []
        for raw_id, score in rows:
            item = await redis.hgetall(ITEM + raw_id.decode())  # type: ignore[misc]
            d = {k.decode(): v.decode() for k, v in item.items()}
            out.append(
                Refused(
                    raw_id.decode(),
                    d.get("kind", "?"),
                    d.get("incident", ""),
                    d.get("text", "")[:200],
                    d.get("error", "(expired)"),
                    int(score),
                )
            )
    return out


async def retry(redis: ArqRedis, ids: list[str] | None = None) -> int:
    """Queue refused messages again (all when `ids` is None); returns how many."""
    async with redis_errors():
        if ids is None:
            ids = [i.decode() for i in await redis.zrange(DEAD, 0, -1)]
        if not ids:
            return 0
        script = redis.register_script(_RETRY)
        return int(await script(keys=[DEAD, QUEUE], args=[ITEM, ORPHANED, *ids]))
