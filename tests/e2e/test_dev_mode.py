"""`plantao dev`: one process, embedded store, Slack printed to the console, as the README says."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.fixtures import RunPlantao
from tests.support.processes import free_port, wait_http_ok

pytestmark = [pytest.mark.e2e]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alertmanager-firing.json"


def test_dev_mode_turns_the_example_payload_into_a_console_message(plantao: RunPlantao) -> None:
    """With no REDIS_URL and no Slack, the README curl prints an incident to the console."""
    port = free_port()
    dev = plantao({"PORT": str(port)}, args=("dev",))
    base = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{base}/health/ready", timeout=20, process=dev)
    assert "embedded store" in dev.output()
    response = httpx.post(f"{base}/webhooks/alertmanager", content=EXAMPLE.read_bytes(), timeout=5)
    assert response.status_code == 202
    assert response.json()["incidents"] == ["1"]
    deadline = time.monotonic() + 20
    while "━━ slack ━━" not in dev.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    out = dev.output()
    assert "━━ slack ━━ [P1] error_rate_spike on api" in out
    assert "Proposed steps:" in out
    again = httpx.post(f"{base}/webhooks/alertmanager", content=EXAMPLE.read_bytes(), timeout=5)
    assert again.json()["duplicates"] == 3
    deep = httpx.get(f"{base}/health/deep", timeout=5)
    assert deep.status_code == 200 and deep.json()["worker_heartbeat_age_s"] is not None
