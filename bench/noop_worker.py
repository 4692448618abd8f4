"""ARQ's own ceiling for bench/worker.py: a worker whose only function does nothing.

Same ARQ version, queue, JSON serializer, Redis client settings, poll delay and max_jobs as
plantão's worker; nothing else. Runs until killed.

    REDIS_URL=... POLL_DELAY_S=0.05 MAX_JOBS=20 .venv/bin/python -m bench.noop_worker
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from arq.worker import Worker, func

from core.queue import QUEUE_NAME, connect, deserialize, serialize

FUNCTION = "noop"


async def noop(ctx: dict[str, Any], *args: str) -> str:
    return "ok"


def build(redis_url: str, poll_delay_s: float, max_jobs: int) -> Worker:
    return Worker(
        functions=[func(noop, name=FUNCTION)],
        queue_name=QUEUE_NAME,
        redis_pool=connect(redis_url),
        max_jobs=max_jobs,
        poll_delay=poll_delay_s,
        keep_result=3600,
        job_serializer=serialize,
        job_deserializer=deserialize,
        log_results=False,
        handle_signals=False,
    )


async def run() -> None:
    # built inside the running loop: ARQ's Worker binds to the loop current at construction
    worker = build(
        os.environ["REDIS_URL"], float(os.environ["POLL_DELAY_S"]), int(os.environ["MAX_JOBS"])
    )
    await worker.async_run()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
