"""Every request gets an id, bound to the log context so each line it logs carries it, and
returned as X-Request-ID. A caller's own X-Request-ID is kept when it looks like an id."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import Request, Response

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # never log what a caller smuggles in a header


async def bind_request_id(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    given = request.headers.get(HEADER, "")
    request_id = given if _SANE.match(given) else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    incident = request.url.path.split("/api/incidents/", 1)[-1].split("/")[0]
    if request.url.path.startswith("/api/incidents/") and incident:
        structlog.contextvars.bind_contextvars(incident=incident)
    response = await call_next(request)
    response.headers[HEADER] = request_id
    return response
