"""schemathesis against the app's own OpenAPI schema: requests generated from the documented
webhook bodies (valid and invalid), each signed or given its token by a hook as the real sender
would, so generation gets past authentication to the parsers, the classifier and the store.
No request may make a 5xx. PLANTAO_FUZZ_EXAMPLES=<n> runs more examples."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis as sync_redis
import schemathesis
from fakeredis import FakeServer
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from core.queue import connect
from core.settings import Settings
from tests.conftest import REDIS_TEST_URL, _redis_or_skip
from tests.support import senders
from tests.support.fuzz import fuzz_settings
from webhook.app import create_app
from webhook.sources.sentry_wire import ENVELOPE_KEYS

SETTINGS = Settings(_env_file=None, app_env="test", **senders.SECRETS)  # type: ignore[arg-type]
OPERATION = schemathesis.openapi.from_dict(create_app(SETTINGS).openapi())["/webhooks/{source}"][
    "POST"
]
CASES = st.one_of(
    OPERATION.as_strategy(GenerationMode.POSITIVE),
    OPERATION.as_strategy(GenerationMode.NEGATIVE),
)
CREDENTIALS = {"authorization", "sentry-hook-signature", "sentry-hook-timestamp"}


def signed(case: Any) -> senders.Request:
    """The hook: serialise the generated body once, then authenticate exactly those bytes the way
    the source's sender does (Sentry signs, the legacy plugin and Railway carry a URL token,
    Alertmanager a bearer token). Generated values of other parameters are kept."""
    source = str(case.path_parameters.get("source", ""))
    if case.body is schemathesis.core.NOT_SET:
        body = b""
    elif isinstance(case.body, bytes):  # negative generation: a body that is not JSON at all
        body = case.body
    else:
        body = json.dumps(case.body, ensure_ascii=False).encode()
    generated = [
        (k, str(v)) for k, v in (case.headers or {}).items() if k.lower() not in CREDENTIALS
    ]
    query = [(k, str(v)) for k, v in (case.query or {}).items() if k != "token"]
    if source == "sentry" and not (
        isinstance(case.body, dict) and ENVELOPE_KEYS & case.body.keys()
    ):
        request = senders.sentry_legacy(body)
    elif source == "sentry":
        request = senders.sentry(body)
    elif source == "railway":
        request = senders.railway(body)
    elif source == "alertmanager":
        request = senders.alertmanager(body)
    else:  # a source that does not exist: sent as generated
        request = senders.Request(f"/webhooks/{source}", body)
    return senders.Request(
        request.path,
        body,
        [*request.headers, *generated],
        [*request.query, *query],
    )


@pytest.fixture(params=["embedded", "real"])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "embedded":
        yield None
        return
    _redis_or_skip(REDIS_TEST_URL)
    scratch = sync_redis.Redis.from_url(REDIS_TEST_URL)
    scratch.flushdb()
    yield REDIS_TEST_URL
    scratch.flushdb()
    scratch.close()


def test_no_generated_request_makes_a_server_error(redis_url: str | None) -> None:
    """Hundreds of generated, correctly authenticated requests: none answers 5xx, and
    generation does reach the parsers (some are accepted, some refused as malformed)."""
    statuses: Counter[int] = Counter()
    with asyncio.Runner() as loop:  # one loop for the app, its Redis client and every request
        redis = connect(redis_url, FakeServer() if redis_url is None else None)
        app = create_app(SETTINGS, redis)
        lifespan = app.router.lifespan_context(app)
        loop.run(lifespan.__aenter__())
        transport = httpx.ASGITransport(app=app)  # an exception in the app fails the test too
        client = httpx.AsyncClient(transport=transport, base_url="http://plantao.test")

        @fuzz_settings(80)
        @given(case=CASES)
        def run(case: Any) -> None:
            request = signed(case)
            response = loop.run(
                client.post(
                    request.path,
                    content=request.body,
                    headers=[(k, v.encode("latin-1", "replace")) for k, v in request.headers],
                    params=request.query,
                )
            )
            statuses[response.status_code] += 1
            assert response.status_code < 500, (request, response.text)

        try:
            run()
        finally:
            loop.run(client.aclose())
            loop.run(lifespan.__aexit__(None, None, None))
            loop.run(redis.aclose())
    assert statuses[202] > 0 and statuses[422] > 0, statuses
    if os.environ.get("PLANTAO_FUZZ_REPORT"):
        print(f"statuses: {dict(statuses)}")
