"""The FastAPI app (RUN_MODE=api): webhook intake and health. Built by create_app(); no globals."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.config import PlantaoConfig, load_config
from core.errors import (
    InvalidTransition,
    SourceError,
    StoreUnavailable,
    UnknownIncident,
)
from core.models import Source
from core.queue import connect
from core.settings import Settings
from core.silences import Silences
from core.store import Store
from webhook import intake_asgi
from webhook.health import router as health_router
from webhook.intake import Intake
from webhook.intake_asgi import IntakeFastPath, accept, read_capped
from webhook.metrics import router as metrics_router
from webhook.operations import router as operations_router
from webhook.operator import router as operator_router
from webhook.redis_pipe import Pipe, PipedScript
from webhook.request_id import RequestId
from webhook.slack import router as slack_router
from webhook.sources import SOURCES
from webhook.sources.base import Delivery, openapi
from webhook.step_approvals import router as approvals_router


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


def create_app(
    settings: Settings, redis: ArqRedis | None = None, config: PlantaoConfig | None = None
) -> FastAPI:
    """The api. Pass `redis` to share a client (the embedded store in `plantao dev`, tests)."""
    config = config if config is not None else load_config(settings.plantao_config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = redis if redis is not None else connect(settings.redis_url)
        pipe = Pipe(client) if Pipe.usable(client) else None  # the intake's EVALSHAs
        via = functools.partial(PipedScript, pipe) if pipe else None
        store = Store(
            client, settings.timeline_max_entries, config.incidents.flap_window_s, ingest_via=via
        )
        silences = Silences(client)
        app.state.deps = Deps(settings, config, client, store, silences, Intake(config, silences))
        yield
        if pipe is not None:
            await pipe.aclose()
        if redis is None:
            await client.aclose()

    app = FastAPI(title="plantão", version="0.1.0", lifespan=lifespan)
    # POST /webhooks/{source} answered before FastAPI's router (webhook/intake_asgi.py), inside
    # the request id middleware so its log line and answer carry the id
    app.add_middleware(IntakeFastPath, state=app.state)
    app.add_middleware(RequestId)  # request id on every log line (no business work)

    @app.exception_handler(SourceError)
    async def source_error(_: Request, exc: SourceError) -> JSONResponse:
        return intake_asgi.source_error(exc)

    @app.exception_handler(InvalidTransition)
    async def invalid_transition(_: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.exception_handler(UnknownIncident)
    async def unknown(_: Request, exc: UnknownIncident) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return intake_asgi.store_unavailable(exc)

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
        cap = deps.settings.max_body_bytes
        body = await read_capped(request.headers.get("content-length", ""), request.stream(), cap)
        delivery = Delivery(request.headers, request.query_params, body)
        result = await accept(parser, delivery, deps.settings, deps.store, deps.intake)
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
