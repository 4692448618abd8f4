"""The job queue: ARQ behind one module. Only this file knows ARQ's key layout and wire format.

Jobs travel as JSON, never pickle: anyone who can write to Redis must not be able to run code
in a worker, and an api and a worker on different versions fail with a validation error.
"""

from __future__ import annotations

import json
from typing import Any

from arq.connections import ArqRedis
from fakeredis import FakeServer
from redis.asyncio import ConnectionPool

from core.embedded import embedded_pool

QUEUE_NAME = "arq:queue"
JOB_KEY_PREFIX = "arq:job:"
RESULT_KEY_PREFIX = "arq:result:"
IN_PROGRESS_KEY_PREFIX = "arq:in-progress:"
RETRY_KEY_PREFIX = "arq:retry:"
JOB_EXPIRES_MS = 24 * 3600 * 1000  # a job not started within a day is dropped by ARQ
REDIS_TIMEOUT_S = 2.0  # a webhook must answer 503 quickly, not hang, when Redis is gone


def serialize(obj: Any) -> bytes:
    return json.dumps(obj, default=str, separators=(",", ":")).encode()


def deserialize(data: bytes) -> Any:
    return json.loads(data)


def job_record(function: str, args: list[str], enqueue_ms: int) -> bytes:
    """ARQ's serialized job, as `arq.jobs.serialize_job` writes it, in JSON."""
    return serialize({"t": None, "f": function, "a": args, "k": {}, "et": enqueue_ms})


def connect(redis_url: str | None, server: FakeServer | None = None) -> ArqRedis:
    """A client for the real Redis at `redis_url`, or for the embedded store when it is None."""
    pool: ConnectionPool
    if redis_url is None:
        pool = embedded_pool(server)
    else:
        pool = ConnectionPool.from_url(
            redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            health_check_interval=10,
        )
    return ArqRedis(pool, job_serializer=serialize, job_deserializer=deserialize)


async def enqueue(redis: ArqRedis, function: str, *args: str, job_id: str) -> bool:
    """Enqueue a job with a deterministic id; False when that id is queued or kept already."""
    job = await redis.enqueue_job(function, *args, _job_id=job_id)
    return job is not None


async def queue_depth(redis: ArqRedis) -> int:
    return int(await redis.zcard(QUEUE_NAME))
