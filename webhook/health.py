"""Health endpoints (runbook 001 "Health checks"): alive, ready (Redis), deep (the pipeline)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from core.errors import StoreUnavailable
from core.outbox import backlog as outbox_backlog
from core.queue import queue_depth
from core.store import redis_errors
from core.timers import leader

router = APIRouter(tags=["health"])
WORKER_STALE_S = 30.0  # a worker beats every 5 s; six missed beats mean it is gone


@router.get("/health")
async def alive() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    try:
        async with redis_errors():
            await request.app.state.deps.redis.ping()
    except StoreUnavailable as exc:
        return JSONResponse({"status": "not ready", "redis": str(exc)}, status_code=503)
    return JSONResponse({"status": "ready", "redis": "ok"})


@router.get("/health/deep")
async def deep(request: Request) -> JSONResponse:
    deps = request.app.state.deps
    try:
        async with redis_errors():
            await deps.redis.ping()
            depth = await queue_depth(deps.redis)
        worker_age = await deps.store.heartbeat_age_s("worker")
        scheduler_age = await deps.store.heartbeat_age_s("scheduler")
        dead = len(await deps.store.dead_letters())
        lead = await leader(deps.redis)
        slack = await outbox_backlog(deps.redis)
    except StoreUnavailable as exc:
        return JSONResponse({"status": "failing", "redis": str(exc)}, status_code=503)
    worker_ok = worker_age is not None and worker_age < WORKER_STALE_S
    body = {
        "status": "ok" if worker_ok else "degraded",
        "redis": "ok",
        "worker_heartbeat_age_s": worker_age,
        "scheduler_heartbeat_age_s": scheduler_age,
        "scheduler_leader": lead.instance if lead else None,  # None: no scheduler leads
        "scheduler_lease_age_s": lead.lease_age_s if lead else None,  # since its last renewal
        "queue_depth": depth,
        "dead_letters": dead,
        # the Slack outbox (worker/outbox.py): messages waiting, refused, and Retry-After left
        "slack_outbox": {
            "queued": slack.queued,
            "dead": slack.dead,
            "held_for_s": round(slack.held_for_s, 3),
        },
    }
    if not worker_ok:
        body["reason"] = "no worker heartbeat" if worker_age is None else "worker heartbeat stale"
    return JSONResponse(body, status_code=200 if worker_ok else 503)
