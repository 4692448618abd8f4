"""The intake's plain-ASGI fast path (webhook/intake_asgi.py) answers exactly as FastAPI's route
did: same status, headers and body for accepted, refused and malformed deliveries, for sources
that are not enabled, for other methods, and with the request id echoed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import cast

import httpx
import pytest

from core.queue import connect
from core.settings import Settings
from tests.conftest import fixture_bytes
from tests.support import senders
from webhook.app import create_app
from webhook.intake_asgi import IntakeFastPath

AM = fixture_bytes("alertmanager", "captured-am025-firing-bearer-single-alert.json")
CAP = 4096
Client = Callable[[bool], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def clients(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    """A client on a fresh started app and a fresh embedded store, with or without the fast
    path (then POST /webhooks/{source} goes through FastAPI's route, as before it)."""
    async with AsyncExitStack() as stack:

        async def make(fast: bool) -> httpx.AsyncClient:
            settings = senders.intake_settings(make_settings, max_body_bytes=CAP)
            app = create_app(settings, connect(None))
            if not fast:
                app.user_middleware = [
                    m for m in app.user_middleware if cast(object, m.cls) is not IntakeFastPath
                ]
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://plantao.test")
            return await stack.enter_async_context(client)

        yield make


AUTH = senders.alertmanager(AM).headers
AM_URL = "/webhooks/alertmanager"
# case -> (method, path, body, headers, the status both answer)
CASES: dict[str, tuple[str, str, bytes, list[tuple[str, str]], int]] = {
    "accepted": ("POST", AM_URL, AM, AUTH, 202),
    "wrong token": ("POST", AM_URL, AM, senders.alertmanager(AM, token="wrong").headers, 401),
    "token sent twice": ("POST", AM_URL, AM, [*AUTH, ("Authorization", "Bearer x")], 401),
    "malformed": ("POST", AM_URL, b'{"version": "4"}', AUTH, 422),
    "not json": ("POST", AM_URL, b"\xff", AUTH, 422),
    "too large": ("POST", AM_URL, AM + b" " * CAP, AUTH, 413),
    "unknown source": ("POST", "/webhooks/nagios", AM, AUTH, 422),
    "source not enabled": ("POST", "/webhooks/plantao", AM, AUTH, 404),
    "another method": ("GET", AM_URL, b"", AUTH, 405),
    "trailing slash": ("POST", AM_URL + "/", AM, AUTH, 307),
    "sentry unsigned": ("POST", "/webhooks/sentry", b"{}", [], 401),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_fast_path_answers_as_the_route(clients: Client, case: str) -> None:
    """Status, body and headers (but the request id, which is new each time) are the same."""
    method, path, body, headers, status = CASES[case]
    answers = []
    for fast in (True, False):
        client = await clients(fast)
        answers.append(await client.request(method, path, content=body, headers=headers))
    fast_answer, route_answer = answers
    assert fast_answer.status_code == route_answer.status_code == status, case
    assert fast_answer.content == route_answer.content, case

    def comparable(response: httpx.Response) -> list[tuple[str, str]]:
        return [(k, v) for k, v in response.headers.multi_items() if k != "x-request-id"]

    assert comparable(fast_answer) == comparable(route_answer), case
    assert fast_answer.headers["x-request-id"]


async def test_an_accepted_delivery_is_202_with_its_counts_and_the_callers_request_id(
    clients: Client,
) -> None:
    """The answer names the incident it opened and echoes a caller's X-Request-ID."""
    request = senders.alertmanager(AM).with_headers(("X-Request-ID", "am-delivery-7"))
    response = await (await clients(True)).post(**request.kwargs())
    assert response.status_code == 202
    assert response.headers["x-request-id"] == "am-delivery-7"
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content) == {
        "accepted": 1,
        "duplicates": 0,
        "silenced": 0,
        "suppressed": 0,
        "incidents": ["1"],
    }
