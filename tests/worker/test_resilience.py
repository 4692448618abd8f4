"""The worker outlives Redis restarts; plantão's own errors reach Sentry when SENTRY_DSN is set."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable

import pytest
import sentry_sdk
from arq.connections import ArqRedis

from core.config import PlantaoConfig
from core.log import init_error_reporting
from core.queue import connect
from core.settings import Settings
from tests.conftest import MakeClient, fixture_bytes
from tests.support.http_recorder import HttpRecorder
from tests.support.redis_server import RedisServer
from tests.worker.conftest import MakePipeline
from tests.worker.test_pipeline import BrokenProbes
from worker.runner import run_supervised

FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
ERRORS = fixture_bytes("alertmanager", "captured-am025-firing-3-alerts-mixed-severity.json")
WAIT_S = 20.0


@pytest.mark.timeout(90)
async def test_a_worker_resumes_after_redis_restarts(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    recorder: HttpRecorder,
    private_redis: RedisServer,
) -> None:
    """Redis killed and started again: the same worker process consumes new alerts afterwards."""
    settings = make_settings(slack_webhook_url=recorder.url, redis_url=private_redis.url)
    api_redis, worker_redis = connect(private_redis.url), connect(private_redis.url)
    client = await make_client(settings, api_redis)
    worker = asyncio.create_task(
        run_supervised(settings, PlantaoConfig(), worker_redis, handle_signals=False)
    )
    try:
        assert (await client.post("/webhooks/alertmanager", content=FIRING)).status_code == 202
        await asyncio.to_thread(recorder.wait_for, lambda r: len(r) == 1, WAIT_S)
        private_redis.kill()
        await asyncio.sleep(1.0)  # the worker notices and starts backing off
        assert (await client.post("/webhooks/alertmanager", content=ERRORS)).status_code == 503
        private_redis.start()  # an empty Redis on the same port (no persistence here)
        accepted = await client.post("/webhooks/alertmanager", content=ERRORS)
        assert accepted.status_code == 202
        await asyncio.to_thread(recorder.wait_for, lambda r: len(r) == 2, WAIT_S)
        assert "error_rate_spike" in recorder.json_bodies()[1]["text"]
        assert not worker.done()
    finally:
        worker.cancel()
        _, pending = await asyncio.wait([worker], timeout=30)
        await api_redis.aclose()
    assert not pending, "the supervised worker did not stop when cancelled"


async def test_handler_crashes_are_reported_to_sentry(
    make_settings: Callable[..., Settings],
    make_recorder: Callable[[], HttpRecorder],
    make_pipeline: MakePipeline,
    embedded_redis: ArqRedis,
) -> None:
    """With SENTRY_DSN set, a crashing handler's exception arrives as a Sentry envelope."""
    sentry = make_recorder()
    dsn = sentry.url.replace("http://", "http://publickey@") + "/42"
    init_error_reporting(make_settings(sentry_dsn=dsn))
    try:
        p = await make_pipeline(embedded_redis, probes=BrokenProbes(), job_max_tries=1)
        await p.post(FIRING)
        await p.drain()
        sentry_sdk.flush(timeout=5)
        sentry.wait_for(lambda r: len(r) >= 1, 10)
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # back to a disabled client for the other tests
    request = sentry.requests[0]
    assert request.path == "/api/42/envelope/"
    body = request.body
    if request.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    items = [json.loads(line) for line in body.splitlines() if line.strip().startswith(b"{")]
    exceptions = [i for i in items if "exception" in i]
    assert exceptions and exceptions[0]["exception"]["values"][-1]["value"] == "probe exploded"
