"""Every process killed in the middle of an open incident: nothing is lost, nothing repeats."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from arq.connections import ArqRedis

from core.store import Store
from tests.conftest import REDIS_TEST_URL, fixture_bytes
from tests.support.fixtures import RunPlantao
from tests.support.http_recorder import HttpRecorder
from tests.support.processes import ManagedProcess, free_port, wait_http_ok

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
RESOLVED = fixture_bytes("alertmanager", "captured-am025-resolved-2-alerts-servicedown.json")


async def test_killing_api_and_worker_mid_incident_loses_nothing(
    plantao: RunPlantao, real_redis: ArqRedis, make_recorder: Callable[[], HttpRecorder]
) -> None:
    """SIGKILL of api and worker between firing and resolution: one post each, state intact."""
    slack = make_recorder()

    def start() -> tuple[str, list[ManagedProcess]]:
        port = free_port()
        env = {"REDIS_URL": REDIS_TEST_URL, "APP_ENV": "test", "SLACK_WEBHOOK_URL": slack.url}
        api = plantao({**env, "RUN_MODE": "api", "PORT": str(port)})
        worker = plantao({**env, "RUN_MODE": "worker"})
        wait_http_ok(f"http://127.0.0.1:{port}/health/ready", timeout=20, process=api)
        return f"http://127.0.0.1:{port}", [api, worker]

    base, processes = start()
    assert httpx.post(f"{base}/webhooks/alertmanager", content=FIRING, timeout=5).status_code == 202
    slack.wait_for(lambda r: len(r) == 1, 20)
    for process in processes:
        process.kill()

    base, _ = start()
    again = httpx.post(f"{base}/webhooks/alertmanager", content=FIRING, timeout=5)
    assert again.json()["duplicates"] == 2  # the dedup state survived
    resolved = httpx.post(f"{base}/webhooks/alertmanager", content=RESOLVED, timeout=5)
    assert resolved.json()["incidents"] == ["1"]
    slack.wait_for(lambda r: len(r) == 2, 20)
    texts = [r.json["text"] for r in slack.requests if r.json]
    assert texts[0].startswith("[P0] api_down on worker") and texts[1].startswith("Resolved:")
    incident = await Store(real_redis).incident("1")
    assert incident is not None and incident.state == "resolved" and incident.alert_count == 2
