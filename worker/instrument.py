"""Job metrics around every job ARQ runs: started, finished by result, retried, dead-lettered,
and the time each try took (core/metrics.py keeps them in Redis for every worker)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry

from core import metrics
from core.store import P, redis_errors

Job = Callable[..., Awaitable[str]]
DEAD_LETTERED = "dead-lettered"  # what a job returns when it wrote a dead letter


def instrumented(job: Job) -> Job:
    name = job.__name__

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: str) -> str:
        redis = ctx["redis"]
        labels = {"function": name}
        await metrics.count(redis, "plantao_jobs_started_total", labels)
        started = time.perf_counter()
        result = "error"
        try:
            result = await job(ctx, *args)
        except Retry:
            result = "retry"
            await metrics.count(redis, "plantao_jobs_retried_total", labels)
            raise
        finally:
            elapsed = time.perf_counter() - started
            await metrics.observe(redis, "plantao_job_duration_seconds", elapsed, labels)
            if result != "retry":
                outcome = result if result in (DEAD_LETTERED, "error") else "ok"
                finished = {**labels, "result": outcome}
                await metrics.count(redis, "plantao_jobs_finished_total", finished)
        if result == DEAD_LETTERED:
            await metrics.count(redis, "plantao_jobs_dead_lettered_total", labels)
            await _name_the_job(redis, str(ctx.get("job_id", "")), name, args)
        return result

    return run


async def _name_the_job(redis: Any, job_id: str, function: str, args: tuple[str, ...]) -> None:
    """Make the dead letter name the job function and arguments, so a re-drive can queue it
    again as it was (a follow-up's dead letter otherwise names its message kind)."""
    mapping = {"function": function, "args": json.dumps(list(args))}
    async with redis_errors():
        if await redis.exists(f"{P}deadletter:{job_id}"):
            await redis.hset(f"{P}deadletter:{job_id}", mapping=mapping)


def instrument(jobs: tuple[Job, ...]) -> tuple[Job, ...]:
    return tuple(instrumented(j) for j in jobs)
