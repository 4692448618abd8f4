"""The job queue: ARQ behind one module. Only this file knows ARQ's key layout and wire format.

Jobs travel as JSON, never pickle: anyone who can write to Redis must not be able to run code
in a worker, and an api and a worker on different versions fail with a validation error.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from arq.connections import ArqRedis
from fakeredis import FakeServer
from pydantic import BaseModel, ConfigDict, Field
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


class JobInfo(BaseModel):
    """What ARQ knows of one job: queued, running or finished (results are kept an hour)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    status: str  # queued | in_progress | complete | failed | unknown
    function: str = ""
    args: list[Any] = Field(default_factory=list)
    tries: int = 0  # tries started so far (or the try that finished it)
    enqueued_ms: int | None = None
    started_ms: int | None = None
    finished_ms: int | None = None
    result: Any = None  # the job's return value, or the error (text) when failed


async def job_info(redis: ArqRedis, job_id: str) -> JobInfo:
    """Read a job's record, result, retry count and in-progress mark; status unknown if none."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(JOB_KEY_PREFIX + job_id)
        pipe.get(RESULT_KEY_PREFIX + job_id)
        pipe.get(RETRY_KEY_PREFIX + job_id)
        pipe.exists(IN_PROGRESS_KEY_PREFIX + job_id)
        job, result, retries, running = await pipe.execute()
    tries = int(retries or 0)
    if result is not None:
        r = deserialize(result)
        return JobInfo(
            job_id=job_id,
            status="complete" if r.get("s") else "failed",
            function=str(r.get("f", "")),
            args=list(r.get("a") or []),
            tries=int(r.get("t") or tries),
            enqueued_ms=r.get("et"),
            started_ms=r.get("st"),
            finished_ms=r.get("ft"),
            result=r.get("r"),
        )
    if job is not None:
        j = deserialize(job)
        status = "in_progress" if running else "queued"
        function, args, enqueued = str(j.get("f", "")), list(j.get("a") or []), j.get("et")
        return JobInfo(
            job_id=job_id,
            status=status,
            function=function,
            args=args,
            tries=tries,
            enqueued_ms=enqueued,
        )
    return JobInfo(job_id=job_id, status="unknown", tries=tries)


async def wait_result(redis: ArqRedis, job_id: str, timeout_s: float) -> JobInfo:
    """Poll until the job finished or `timeout_s` passed; the last JobInfo either way."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        info = await job_info(redis, job_id)
        if info.status in ("complete", "failed") or asyncio.get_running_loop().time() >= deadline:
            return info
        await asyncio.sleep(0.05)
