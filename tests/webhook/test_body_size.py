"""The body cap (MAX_BODY_BYTES) on every source: cap−1 and cap are read, cap+1 is 413; a
chunked body without Content-Length and a Content-Length that lies are cut off after at most the
cap plus one chunk, and nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI

from core.settings import Settings
from tests.conftest import MakeClient, fixture_bytes
from tests.support import senders
from tests.support.asgi_raw import post_raw
from tests.support.redis_state import redis_state
from webhook.app import create_app

CAP = 16 * 1024
CHUNK = 1024


def padded(body: bytes, size: int) -> bytes:
    """The body followed by JSON whitespace up to exactly `size` bytes (still the same JSON)."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


SOURCES: dict[str, Callable[[bytes], senders.Request]] = {
    "sentry": lambda b: senders.sentry(b),
    "railway": lambda b: senders.railway(b),
    "alertmanager": lambda b: senders.alertmanager(b),
}
BODIES = {
    "sentry": fixture_bytes("sentry", "docs-issue-created.json"),
    "railway": fixture_bytes("railway", "docs-new-format-example-deployment-failed.json"),
    "alertmanager": fixture_bytes("alertmanager", "captured-am025-firing-bearer-single-alert.json"),
}


@pytest.fixture
async def client(
    make_client: MakeClient, make_settings: Callable[..., Settings], embedded_redis: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    settings = senders.intake_settings(make_settings, max_body_bytes=CAP)
    yield await make_client(settings, embedded_redis)


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize(("size", "status"), [(CAP - 1, 202), (CAP, 202), (CAP + 1, 413)])
async def test_a_valid_body_is_accepted_up_to_the_cap_and_refused_past_it(
    client: httpx.AsyncClient, embedded_redis: ArqRedis, source: str, size: int, status: int
) -> None:
    """A valid, correctly authenticated body of cap−1 or cap bytes is accepted; cap+1 is 413
    and writes nothing."""
    before = await redis_state(embedded_redis)
    request = SOURCES[source](padded(BODIES[source], size))
    response = await client.post(**request.kwargs())
    assert response.status_code == status, response.text
    if status == 413:
        assert await redis_state(embedded_redis) == before


@pytest.fixture
async def app(
    make_settings: Callable[..., Settings], embedded_redis: ArqRedis
) -> AsyncIterator[FastAPI]:
    """The app started (lifespan entered), for requests sent through raw ASGI."""
    application = create_app(
        senders.intake_settings(make_settings, max_body_bytes=CAP), embedded_redis
    )
    async with application.router.lifespan_context(application):
        yield application


def endless(chunk: int = CHUNK) -> Iterator[bytes]:
    """A body that never ends, as a slow-loris or a broken proxy would send."""
    while True:
        yield b" " * chunk


@pytest.mark.parametrize(
    "content_length",
    [None, "100", "0", "not-a-number", str(CAP)],
    ids=["chunked", "lying-small", "lying-zero", "garbage", "lying-at-cap"],
)
@pytest.mark.parametrize("source", ["sentry", "railway"])
async def test_an_endless_body_is_cut_off_after_the_cap(
    app: FastAPI, embedded_redis: ArqRedis, source: str, content_length: str | None
) -> None:
    """Whatever Content-Length says (or without one), reading stops one chunk past the cap: 413."""
    before = await redis_state(embedded_redis)
    request = SOURCES[source](BODIES[source])
    headers = [h for h in request.headers if h[0].lower() != "content-length"]
    if content_length is not None:
        headers.append(("Content-Length", content_length))
    query = "&".join(f"{k}={v}" for k, v in request.query)
    response = await post_raw(app, request.path, endless(), headers, query)
    assert response.status == 413
    assert CAP < response.body_bytes_read <= CAP + CHUNK
    assert await redis_state(embedded_redis) == before


async def test_a_declared_length_over_the_cap_is_refused_before_reading(app: FastAPI) -> None:
    """A Content-Length above the cap is 413 without reading a byte of the body."""
    response = await post_raw(
        app, "/webhooks/railway", endless(), [("Content-Length", str(CAP + 1))], "token=x"
    )
    assert (response.status, response.body_bytes_read) == (413, 0)


async def test_a_chunked_body_under_the_cap_is_read_whole(
    app: FastAPI, embedded_redis: ArqRedis
) -> None:
    """Without Content-Length a valid body in many small chunks is accepted."""
    body = BODIES["railway"]
    chunks = [body[i : i + 100] for i in range(0, len(body), 100)]
    request = senders.railway(body)
    query = "&".join(f"{k}={v}" for k, v in request.query)
    response = await post_raw(app, request.path, chunks, request.headers, query)
    assert (response.status, response.body_bytes_read) == (202, len(body))
