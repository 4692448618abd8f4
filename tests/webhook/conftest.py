"""An HTTP client on the real app (ASGI, lifespan run), for any store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis

from core.settings import Settings
from webhook.app import create_app

MakeClient = Callable[..., Any]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Factory `await make_client(settings, redis)` -> an httpx client on a running app."""
    async with AsyncExitStack() as stack:

        async def make(settings: Settings, redis: ArqRedis) -> httpx.AsyncClient:
            app = create_app(settings, redis)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://plantao.test")
            return await stack.enter_async_context(client)

        yield make
