"""End to end: the real Alertmanager posts to plantão's api process; its worker posts to Slack."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from arq.connections import ArqRedis

from tests.conftest import REDIS_TEST_URL
from tests.support.fixtures import MakeAlertmanager, RunPlantao
from tests.support.http_recorder import HttpRecorder, RecordedRequest
from tests.support.processes import ManagedProcess, free_port, wait_http_ok

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
TOKEN = "e2e-alertmanager-token"
WAIT_S = 30.0  # group_wait 1 s + group_interval 2 s + worker, with a wide margin
SERVICE_DOWN = {
    "labels": {"alertname": "ServiceDown", "service": "api", "severity": "critical"},
    "annotations": {"summary": "api is down"},
    "generatorURL": "http://prometheus.test/graph?g0.expr=up%7Bjob%3D%22api%22%7D+%3D%3D+0",
}
ERRORS = {
    "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "warning"},
    "annotations": {"summary": "5xx above 5%"},
}


def texts(requests: list[RecordedRequest]) -> list[str]:
    return sorted(str(r.json["text"]) for r in requests if r.json is not None)


@pytest.fixture
def stack(
    plantao: RunPlantao, real_redis: ArqRedis, make_recorder: Callable[[], HttpRecorder]
) -> tuple[str, HttpRecorder, list[ManagedProcess]]:
    """api + worker + scheduler processes on the real Redis, Slack a local recorder."""
    slack = make_recorder()
    port = free_port()
    common = {"REDIS_URL": REDIS_TEST_URL, "ALERTMANAGER_TOKEN": TOKEN, "APP_ENV": "test"}
    api = plantao({**common, "RUN_MODE": "api", "PORT": str(port)})
    worker = plantao({**common, "RUN_MODE": "worker", "SLACK_WEBHOOK_URL": slack.url})
    scheduler = plantao({**common, "RUN_MODE": "scheduler"})
    base = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{base}/health/ready", timeout=20, process=api)
    return base, slack, [api, worker, scheduler]


def test_firing_and_resolved_alerts_reach_slack_once_each(
    stack: tuple[str, HttpRecorder, list[ManagedProcess]], alertmanager: MakeAlertmanager
) -> None:
    """Two alert groups make two incident messages, their resolution two more, and no repeats."""
    base, slack, _ = stack
    am = alertmanager(f"{base}/webhooks/alertmanager", bearer_token=TOKEN)
    am.post_alerts([SERVICE_DOWN, ERRORS])
    slack.wait_for(lambda r: len(r) >= 2, WAIT_S)
    opened = texts(slack.requests)
    assert opened[0].startswith("[P0] api_down on api: api is down")
    assert opened[1].startswith("[P1] error_rate_spike on checkout: 5xx above 5%")

    am.resolve()
    slack.wait_for(lambda r: len(r) >= 4, WAIT_S)
    resolved = [t for t in texts(slack.requests) if t.startswith("Resolved:")]
    assert resolved == [
        "Resolved: [P0] api_down on api",
        "Resolved: [P1] error_rate_spike on checkout",
    ]
    time.sleep(5)  # two more group intervals: Alertmanager may flush again, plantão must not post
    assert len(slack.requests) == 4

    deep = httpx.get(f"{base}/health/deep", timeout=5).json()
    assert deep["status"] == "ok" and deep["queue_depth"] == 0
    assert deep["worker_heartbeat_age_s"] < 30 and deep["scheduler_heartbeat_age_s"] is not None


def test_a_wrong_token_is_refused_and_nothing_is_posted(
    stack: tuple[str, HttpRecorder, list[ManagedProcess]], alertmanager: MakeAlertmanager
) -> None:
    """An Alertmanager configured with the wrong credentials gets 401s; Slack hears nothing."""
    base, slack, _ = stack
    am = alertmanager(f"{base}/webhooks/alertmanager", bearer_token="not-the-token")
    am.post_alerts([SERVICE_DOWN])
    deadline = time.monotonic() + 15
    while "401" not in am.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "401" in am.log()
    assert slack.requests == []
