"""Drive an ASGI app by hand, to send what no well-behaved client sends (a Content-Length that
lies) and to count how many body bytes the app pulled before it answered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI


@dataclass(frozen=True)
class RawResponse:
    status: int
    body_bytes_read: int


async def post_raw(
    app: FastAPI,
    path: str,
    chunks: Iterable[bytes],
    headers: Iterable[tuple[str, str]] = (),
    query: str = "",
) -> RawResponse:
    """POST `chunks` as the body; the app must already be started (its lifespan entered)."""
    pending = iter(chunks)
    read = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("plantao.test", 80),
    }
    await app(scope, receive, send)
    return RawResponse(status, read)
