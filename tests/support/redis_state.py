"""Everything a Redis database holds, key by key and value by value, to show a request wrote
nothing (comparing key names alone would miss a changed counter or a moved score)."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis

from core.queue import QUEUE_NAME


async def redis_state(redis: ArqRedis) -> dict[bytes, Any]:
    """key -> (type, content, has a TTL)."""
    state: dict[bytes, Any] = {}
    for key in sorted(await redis.keys("*")):
        kind = (await redis.type(key)).decode()
        content: Any
        if kind == "string":
            content = await redis.get(key)
        elif kind == "hash":
            content = sorted((await redis.hgetall(key)).items())  # type: ignore[misc]
        elif kind == "list":
            content = await redis.lrange(key, 0, -1)  # type: ignore[misc]
        elif kind == "set":
            content = sorted(await redis.smembers(key))  # type: ignore[misc]
        elif kind == "zset":
            content = await redis.zrange(key, 0, -1, withscores=True)
        else:
            content = kind
        state[key] = (kind, content, await redis.ttl(key) > 0)
    return state


async def queued(redis: ArqRedis) -> list[str]:
    """The ids of the jobs waiting in the queue."""
    return [j.decode() for j in await redis.zrange(QUEUE_NAME, 0, -1)]


async def dump_text(redis: ArqRedis) -> str:
    """The whole database as one text, to search for strings that must never be stored."""
    return repr(await redis_state(redis))
