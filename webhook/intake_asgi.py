"""POST /webhooks/{source}: the intake's steps, and the same route as plain ASGI in front of
FastAPI's router (most of the api's traffic, answered without routing, dependency solving and a
Response object: about 1.4x the deliveries per second, bench/README.md).

The FastAPI route in webhook/app.py stays for what the fast path does not take (a source that
is not enabled, an unknown one, another method) and for the OpenAPI schema; both call
`accept()`, and errors are answered by the same functions as FastAPI's exception handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import orjson
import structlog
from starlette.datastructures import Headers, QueryParams
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import PayloadTooLarge, SourceError, StoreUnavailable
from core.settings import Settings
from core.store import IngestResult, Store
from webhook.intake import Intake
from webhook.sources import SOURCES
from webhook.sources.base import Delivery, SourceParser

log = structlog.get_logger()
RETRY_AFTER_S = "5"
PREFIX = "/webhooks/"
PARSERS: dict[str, SourceParser] = {s.value: p for s, p in SOURCES.items()}
_JSON_202 = b"application/json"


class IntakeDeps(Protocol):
    """What the intake needs of the app's Deps (webhook/app.py)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def intake(self) -> Intake: ...


async def read_capped(declared: str, chunks: AsyncIterator[bytes], cap: int) -> bytes:
    """The body, refused as soon as it passes `cap` bytes (not after buffering it all)."""
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {cap}-byte limit")
    size, parts = 0, []
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"body is over the {cap}-byte limit")
        parts.append(chunk)
    return b"".join(parts)


async def accept(
    parser: SourceParser, delivery: Delivery, settings: Settings, store: Store, intake: Intake
) -> IngestResult:
    """Authenticate, parse, classify and store one delivery; log what it did."""
    parser.verify(delivery, settings)
    alerts = parser.parse(delivery.body)
    result = await store.ingest(await intake.admit(alerts), source=parser.source.value)
    log.info("alerts.received", source=parser.source.value, **vars(result))
    return result


def source_error(exc: SourceError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status_code)


def store_unavailable(exc: StoreUnavailable) -> JSONResponse:
    log.warning("store.unavailable", error=str(exc))
    return JSONResponse(
        {"error": "storage unavailable, retry later"},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_S},
    )


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as Starlette's Request.stream() yields it (ClientDisconnect included)."""
    while True:
        message = await receive()
        if message["type"] == "http.request":
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


class IntakeFastPath:
    """ASGI middleware: POST /webhooks/{enabled source} once the app has started; the rest goes
    on to FastAPI. Unexpected errors propagate as they would from the route (500)."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state  # the app's state: `deps` appears when its lifespan has started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        deps: IntakeDeps | None = getattr(self.state, "deps", None)
        parser = PARSERS.get(path[len(PREFIX) :]) if path.startswith(PREFIX) else None
        if (
            parser is None
            or deps is None
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        try:
            result = await self._accept(parser, deps, scope, receive)
        except SourceError as exc:
            await source_error(exc)(scope, receive, send)
            return
        except StoreUnavailable as exc:
            await store_unavailable(exc)(scope, receive, send)
            return
        body = orjson.dumps(vars(result))  # the bytes Starlette's JSONResponse would send
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON_202)]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _accept(
        self, parser: SourceParser, deps: IntakeDeps, scope: Scope, receive: Receive
    ) -> IngestResult:
        headers = Headers(scope=scope)
        cap = deps.settings.max_body_bytes
        body = await read_capped(headers.get("content-length", ""), _body_chunks(receive), cap)
        query: Mapping[str, str] = QueryParams(scope["query_string"])
        delivery = Delivery(headers, query, body)
        return await accept(parser, delivery, deps.settings, deps.store, deps.intake)
