"""Diagnosis only: plantão's api with the changes bench/README.md suggests, measured without
touching product code (`bench/run ingest --diagnose` runs these next to the shipped api).

    --uvloop      serve on uvloop. `plantao serve` calls `await server.serve()` inside
                  `asyncio.run()`, where uvicorn's `loop="uvloop"` is never applied: the
                  shipped api runs on the stdlib asyncio loop (py-spy shows selectors frames).
    --async-deps  replace webhook.app.get_deps (a plain `def`, which FastAPI runs in a worker
                  thread on every request) by an `async def` twin, via dependency_overrides.
    --asgi-mw     replace the `@app.middleware("http")` request-id middleware (Starlette's
                  BaseHTTPMiddleware: a task and memory streams per request) by a plain ASGI
                  middleware doing the same (bind X-Request-ID to the log context, echo it).

Same environment as `plantao serve` with RUN_MODE=api (REDIS_URL, HOST, PORT, tokens...).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import cast

import structlog
import uvicorn
import uvloop
from fastapi import FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import load_config
from core.log import configure_logging
from core.queue import connect
from core.settings import Settings
from webhook import app as webhook_app
from webhook.request_id import _SANE as SANE  # the same id rule as the product
from webhook.request_id import HEADER


class RequestIdAsgi:
    """webhook/request_id.py's bind_request_id as a plain ASGI middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        request_id = given if SANE.match(given) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        path: str = scope["path"]
        incident = path.split("/api/incidents/", 1)[-1].split("/")[0]
        if path.startswith("/api/incidents/") and incident:
            structlog.contextvars.bind_contextvars(incident=incident)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((HEADER.lower().encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


def swap_request_id_middleware(app: FastAPI) -> None:
    found = [
        m
        for m in app.user_middleware
        if cast(object, m.cls) is BaseHTTPMiddleware
        and getattr(m.kwargs.get("dispatch"), "__name__", "") == "bind_request_id"
    ]
    if not found:
        raise SystemExit("--asgi-mw: the app has no bind_request_id http middleware any more")
    app.user_middleware = [m for m in app.user_middleware if m not in found]
    app.add_middleware(RequestIdAsgi)


def build(async_deps: bool, asgi_mw: bool) -> uvicorn.Server:
    settings = Settings()
    configure_logging(settings)
    app = webhook_app.create_app(
        settings, connect(settings.redis_url), load_config(settings.plantao_config)
    )
    if async_deps:
        sync_get_deps = webhook_app.get_deps

        async def get_deps(request: Request) -> object:
            return sync_get_deps(request)

        app.dependency_overrides[sync_get_deps] = get_deps
    if asgi_mw:
        swap_request_id_middleware(app)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
    return uvicorn.Server(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--async-deps", action="store_true")
    parser.add_argument("--asgi-mw", action="store_true")
    args = parser.parse_args()

    async def serve() -> None:
        await build(args.async_deps, args.asgi_mw).serve()

    if args.uvloop:
        uvloop.run(serve())
    else:
        asyncio.run(serve())


if __name__ == "__main__":
    main()
