"""The FastAPI app (RUN_MODE=api): webhook intake and health. Built by create_app(); no globals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import structlog
from arq.connections import ArqRedis
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.config import PlantaoConfig, load_config
from core.errors import (
    InvalidTransition,
    PayloadTooLarge,
    SourceError,
    StoreUnavailable,
    UnknownIncident,
)
from core.models import Source
from core.queue import connect
from core.settings import Settings
from core.silences import Silences
from core.store import Store
from webhook.health import router as health_router
from webhook.intake import Intake
from webhook.metrics import router as metrics_router
from webhook.operations import router as operations_router
from webhook.operator import router as operator_router
from webhook.request_id import RequestId
from webhook.slack import router as slack_router
from webhook.sources import SOURCES
from webhook.sources.base import Delivery, openapi
from webhook.step_approvals import router as approvals_router

log = structlog.get_logger()
RETRY_AFTER_S = "5"


@dataclass(frozen=True)
class Deps:
    settings: Settings
    config: PlantaoConfig
    redis: ArqRedis
    store: Store
    silences: Silences
    intake: Intake


async def get_deps(request: Request) -> Deps:  # async: a plain def runs in a thread pool
    deps: Deps = request.app.state.deps
    return deps


DepsDep = Annotated[Deps, Depends(get_deps)]


class Accepted(BaseModel):
    accepted: int  # alerts that changed something (new, attached, resolved)
    duplicates: int  # re-deliveries: counted on their incident, nothing else
    silenced: int  # recorded on their incident, notifying nobody
    suppressed: int  # attached to the incident that inhibits them
    incidents: list[str]


async def read_capped(request: Request, cap: int) -> bytes:
    """Read the body, refusing it as soon as it passes `cap` bytes (not after buffering it all)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {cap}-byte limit")
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"body is over the {cap}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    settings: Settings, redis: ArqRedis | None = None, config: PlantaoConfig | None = None
) -> FastAPI:
    """The api. Pass `redis` to share a client (the embedded store in `plantao dev`, tests)."""
    config = config if config is not None else load_config(settings.plantao_config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = redis if redis is not None else connect(settings.redis_url)
        store = Store(client, settings.timeline_max_entries, config.incidents.flap_window_s)
        silences = Silences(client)
        app.state.deps = Deps(settings, config, client, store, silences, Intake(config, silences))
        yield
        if redis is None:
            await client.aclose()

    app = FastAPI(title="plantão", version="0.1.0", lifespan=lifespan)
    app.add_middleware(RequestId)  # request id on every log line (no business work)

    @app.exception_handler(SourceError)
    async def source_error(_: Request, exc: SourceError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(InvalidTransition)
    async def invalid_transition(_: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.exception_handler(UnknownIncident)
    async def unknown(_: Request, exc: UnknownIncident) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("store.unavailable", error=str(exc))
        return JSONResponse(
            {"error": "storage unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_S},
        )

    @app.post(
        "/webhooks/{source}",
        status_code=202,
        response_model=Accepted,
        openapi_extra=openapi(SOURCES.values()),  # bodies and credentials, for /docs and fuzzing
    )
    async def receive(source: Source, request: Request, deps: DepsDep) -> JSONResponse:
        parser = SOURCES.get(source)
        if parser is None:
            return JSONResponse({"error": f"source {source} is not enabled"}, status_code=404)
        body = await read_capped(request, deps.settings.max_body_bytes)
        delivery = Delivery(request.headers, request.query_params, body)
        parser.verify(delivery, deps.settings)
        alerts = parser.parse(body)
        result = await deps.store.ingest(await deps.intake.admit(alerts), source=source.value)
        log.info("alerts.received", source=source.value, **vars(result))
        # the model is the documented shape; returning it as is skips FastAPI re-validating it
        return JSONResponse(vars(result), status_code=202)

    # after the intake route: routes are matched in order, and alerts are most of the traffic
    app.include_router(health_router)
    app.include_router(operator_router)
    app.include_router(approvals_router)
    app.include_router(slack_router)
    app.include_router(operations_router)
    app.include_router(metrics_router)
    return app
