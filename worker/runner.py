"""Building and supervising ARQ workers: the JSON wire format, timeouts, heartbeat, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.worker import Worker, func
from redis.exceptions import RedisError

from core.config import PlantaoConfig
from core.errors import StoreUnavailable
from core.queue import QUEUE_NAME, deserialize, serialize
from core.settings import Settings
from handlers.types import Probes
from worker.deps import CTX_KEY, Deps
from worker.jobs import JOBS
from worker.slack import SlackPoster

log = structlog.get_logger()
HEARTBEAT_S = 5.0
RESTART_BACKOFF_MAX_S = 4.0  # back within seconds of Redis's return (chaos/: < 10 s)
# ARQ's own timeout, a backstop behind the diagnosis limit: room for the automatic steps (a
# Railway mutation is bounded at 15 s and its verification at 45 s, worker/checks.py Timing).
EXECUTION_BUDGET_S = 120.0
# ARQ marks a running job with an in-progress key that lives as long as the job may run
# (+ 10 s), so a job whose worker was killed waited 160 s to run again. plantão gives the key
# WORKER_JOB_LEASE_S instead and renews it RENEWALS times per lease while the job runs here.
RENEWALS = 4
SHUTDOWN_FLUSH_S = 3.0  # a stopping worker sends the Slack outbox for at most this long


def instance_id(role: str) -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


async def _heartbeat(deps: Deps, instance: str) -> None:
    while True:
        try:
            await deps.store.beat("worker", instance)
        except StoreUnavailable as exc:
            log.warning("heartbeat.failed", error=str(exc))
        await asyncio.sleep(HEARTBEAT_S)


async def _renew_leases(worker: Worker, lease_s: float) -> None:
    """Keep the in-progress keys of the jobs this worker runs alive; a dead worker stops
    renewing, and its jobs are taken by another worker once their lease ran out."""
    while True:
        await asyncio.sleep(lease_s / RENEWALS)
        running = [job_id for job_id, task in worker.tasks.items() if not task.done()]
        if not running:
            continue
        try:
            async with worker.pool.pipeline(transaction=False) as pipe:
                for job_id in running:  # PEXPIRE leaves a key already deleted (job done) alone
                    pipe.pexpire(in_progress_key_prefix + job_id, int(lease_s * 1000))
                await pipe.execute()
        except (RedisError, OSError) as exc:  # Redis away: the supervisor restarts the worker
            log.warning("worker.lease_not_renewed", jobs=len(running), error=str(exc))


async def stop_tasks(tasks: list[asyncio.Task[None]], within_s: float = 5.0) -> None:
    """Cancel background tasks and wait for them, cancelling again those still running: a
    cancellation can be swallowed by a library on the way (Python 3.11's wait_for, redis-py's
    timeouts), and one swallowed cancel must not hang the worker's shutdown for ever."""
    deadline = asyncio.get_running_loop().time() + within_s
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            log.warning("worker.tasks_not_stopped", tasks=[t.get_name() for t in pending])
            return
        _, pending = await asyncio.wait(pending, timeout=min(0.5, left))


def build_worker(
    settings: Settings,
    config: PlantaoConfig,
    redis: ArqRedis,
    *,
    burst: bool = False,
    handle_signals: bool = True,
    slack: SlackPoster | None = None,
    probes: Probes | None = None,
) -> Worker:
    """An ARQ worker for plantão's jobs; `slack` and `probes` override the real clients."""
    instance = instance_id("worker")
    tasks: list[asyncio.Task[None]] = []

    async def on_startup(ctx: dict[str, Any]) -> None:
        deps = Deps.build(settings, config, redis, slack, probes)
        ctx[CTX_KEY] = deps
        tasks.append(asyncio.create_task(_heartbeat(deps, instance)))
        tasks.append(asyncio.create_task(_renew_leases(worker, settings.worker_job_lease_s)))
        if deps.room is not None:  # the Slack outbox's sender (worker/outbox_sender.py)
            tasks.append(asyncio.create_task(deps.room.sender(instance).run()))
        log.info("worker.started", instance=instance)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await stop_tasks(tasks)  # the sender gives its lease up
        deps = ctx.get(CTX_KEY)
        if isinstance(deps, Deps) and deps.room is not None:  # send what is queued, briefly
            with contextlib.suppress(TimeoutError, StoreUnavailable):
                await deps.room.sender(instance).drain(SHUTDOWN_FLUSH_S)
        if isinstance(deps, Deps):
            await deps.http.aclose()

    timeout = settings.job_timeout_s + EXECUTION_BUDGET_S
    worker = Worker(
        functions=[func(job, name=job.__name__, timeout=timeout) for job in JOBS],  # type: ignore[arg-type]
        queue_name=QUEUE_NAME,
        redis_pool=redis,
        burst=burst,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        handle_signals=handle_signals,
        max_jobs=settings.worker_max_jobs,
        poll_delay=settings.worker_poll_delay_s,
        # ARQ gives up after max_tries without calling the job; ours dead-letters first.
        max_tries=settings.job_max_tries + 2,
        keep_result=3600,
        job_serializer=serialize,
        job_deserializer=deserialize,
        log_results=False,
    )
    worker.in_progress_timeout_s = settings.worker_job_lease_s  # renewed by _renew_leases
    return worker


async def _stop(worker: Worker) -> None:
    """Cancel what the worker runs (ARQ re-runs those jobs) and run its on_shutdown.

    Not Worker.close(): it needs Redis, and without signal handling it cancels and then
    awaits its own tasks, raising CancelledError into the supervisor.
    """
    await stop_tasks(list(worker.tasks.values()))
    if worker.on_shutdown is not None:
        await worker.on_shutdown(worker.ctx)


async def _run(worker: Worker) -> None:
    """worker.async_run(), stopped for sure when we are cancelled: a cancellation can be
    swallowed inside ARQ's main task (a redis-py timeout racing it while Redis is down), and
    awaiting that task directly would then wait for ever."""
    running = asyncio.create_task(worker.async_run())
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        await stop_tasks([running])  # cancelled again until it stops (bounded)
        raise


async def run_supervised(
    settings: Settings, config: PlantaoConfig, redis: ArqRedis, *, handle_signals: bool = True
) -> None:
    """Run a worker until it stops cleanly; when Redis drops it, start a new one with a back-off.

    With `handle_signals`, SIGTERM/SIGINT stop it gracefully: running jobs are re-queued.
    """
    delay = 0.5
    while True:
        worker = build_worker(settings, config, redis, handle_signals=handle_signals)
        try:
            await _run(worker)
            return  # burst finished
        except asyncio.CancelledError:
            if handle_signals and worker.main_task is not None and worker.main_task.cancelled():
                log.info("worker.stopped")
                return  # ARQ's signal handler cancelled the main task: a clean stop
            raise
        except (RedisError, OSError, StoreUnavailable) as exc:
            log.warning("worker.redis_lost", error=str(exc), restart_in_s=delay)
        finally:
            await _stop(worker)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESTART_BACKOFF_MAX_S)
