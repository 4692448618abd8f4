"""HTTP probes: status and latency measured, bounded in time, failures reported as findings."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from core.config import PlantaoConfig, ServiceConfig
from handlers.types import Endpoint
from tests.support.http_recorder import HttpRecorder
from worker.probes import HttpProbes


def probes(url: str | None, timeout_s: float = 1.0, attempts: int = 2) -> HttpProbes:
    services = {"api": ServiceConfig(url=url)} if url is not None else {}
    client = httpx.AsyncClient()
    return HttpProbes(PlantaoConfig(services=services), client, timeout_s, attempts)


async def test_a_healthy_endpoint_reports_status_latency_and_body(recorder: HttpRecorder) -> None:
    """A 200 from /health is ok, with its latency and the start of its body kept as evidence."""
    recorder.respond(200, {"status": "ok"})
    check = await probes(recorder.url).endpoint("api", Endpoint.HEALTH)
    assert check.ok and check.status == 200
    assert check.latency_ms is not None and check.latency_ms >= 0
    assert '"status"' in check.body
    assert recorder.requests[0].path == "/health"


async def test_each_endpoint_uses_its_configured_path(recorder: HttpRecorder) -> None:
    """ready and deep go to /health/ready and /health/deep (runbook 001)."""
    p = probes(recorder.url)
    await p.endpoint("api", Endpoint.READY)
    await p.endpoint("api", Endpoint.DEEP)
    assert [r.path for r in recorder.requests] == ["/health/ready", "/health/deep"]


async def test_a_failing_endpoint_is_a_finding_not_an_exception(recorder: HttpRecorder) -> None:
    """A 503 is reported as not ok; HTTP errors are not retried (the answer is the finding)."""
    recorder.respond(503, "down")
    check = await probes(recorder.url).endpoint("api", Endpoint.DEEP)
    assert not check.ok and check.status == 503
    assert len(recorder.requests) == 1


async def test_an_unconfigured_service_says_so() -> None:
    """No URL for the service: the probe does not run and says why."""
    check = await probes(None).endpoint("api", Endpoint.HEALTH)
    assert check.url is None and not check.ok
    assert "no url in PLANTAO_CONFIG" in (check.error or "")


@pytest.fixture
def refusing_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: connections are refused


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (kernel backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_a_refused_connection_is_retried_then_reported(refusing_port: int) -> None:
    """Transport errors are retried a bounded number of times, then become the finding."""
    check = await probes(f"http://127.0.0.1:{refusing_port}", attempts=3).endpoint(
        "api", Endpoint.HEALTH
    )
    assert check.status is None and "ConnectError" in (check.error or "")


async def test_a_hanging_endpoint_times_out_within_the_bound(silent_server: str) -> None:
    """A server that never answers costs at most timeout x attempts (plus the retry wait)."""
    started = time.monotonic()
    check = await probes(silent_server, timeout_s=0.3, attempts=2).endpoint("api", Endpoint.HEALTH)
    elapsed = time.monotonic() - started
    assert check.status is None and "Timeout" in (check.error or "")
    assert elapsed < 0.3 * 2 + 0.2 + 1.0
