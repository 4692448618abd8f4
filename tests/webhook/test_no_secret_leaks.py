"""No secret, signature or Authorization value ever appears in logs, Redis or Slack: canary
secrets configured, every source exercised (accepted and refused) with logging at DEBUG, the
worker run to Slack, then all three searched, plus the answers the senders got."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from arq.connections import ArqRedis

from core.config import PlantaoConfig
from core.log import configure_logging
from core.settings import Settings
from tests.conftest import MakeClient, fixture_bytes
from tests.support import senders
from tests.support.http_recorder import HttpRecorder
from tests.support.redis_state import dump_text
from worker.runner import build_worker

CANARIES = {
    "alertmanager_token": "canary-am-7d41c1e0",
    "sentry_client_secret": "canary-sentry-new-93be0a4c",
    "sentry_client_secret_old": "canary-sentry-old-1f06c2d8",
    "sentry_legacy_token": "canary-legacy-55e9d3b1",
    "railway_webhook_token": "canary-railway-c07a88f2",
    "slack_signing_secret": "canary-slack-signing-2b7e9164",
    "operator_token": "canary-operator-80d4f5aa",
}
ISSUE = fixture_bytes("sentry", "docs-issue-created.json").replace(
    b"blooopy is not defined", b"too many connections"
)
LEGACY = fixture_bytes("sentry", "zulip-legacy-webhooks-plugin-python-exception.json")
FAILED = fixture_bytes("railway", "docs-new-format-example-deployment-failed.json")
DEPLOYED = fixture_bytes("railway", "derived-new-format-deployment-deployed.json").replace(
    b"2025-11-21T23:48:42.311Z", b"2025-11-21T23:59:00.000Z"
)
SENDER = "http://plantao.test/"  # make_client's base URL
FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")


def deliveries() -> list[tuple[senders.Request, int]]:
    """Accepted and refused requests of every source, each carrying canaries on the wire."""
    new, old = CANARIES["sentry_client_secret"], CANARIES["sentry_client_secret_old"]
    return [
        (senders.sentry(ISSUE, secret=new), 202),
        (senders.sentry(ISSUE.replace(b'"1170820242"', b'"7"'), secret=old), 202),
        (senders.sentry_legacy(LEGACY, token=CANARIES["sentry_legacy_token"]), 202),
        (senders.railway(FAILED, token=CANARIES["railway_webhook_token"]), 202),
        (senders.railway(DEPLOYED, token=CANARIES["railway_webhook_token"]), 202),
        (senders.alertmanager(FIRING, token=CANARIES["alertmanager_token"]), 202),
        (senders.sentry(ISSUE, secret=CANARIES["railway_webhook_token"]), 401),
        (senders.sentry(ISSUE, secret=new, at=0), 400),
        (senders.sentry(b'{"action": "created", "data": {"issue": {}}}', secret=new), 422),
        (senders.sentry_legacy(LEGACY, token=CANARIES["operator_token"]), 401),
        (senders.railway(FAILED, token=CANARIES["alertmanager_token"]), 401),
        (senders.alertmanager(FIRING, token=CANARIES["slack_signing_secret"]), 401),
    ]


def on_the_wire(request: senders.Request) -> list[str]:
    """The credential values a request carried: headers and URL tokens."""
    names = {"authorization", "sentry-hook-signature"}
    return [v for k, v in request.headers if k.lower() in names] + [v for _, v in request.query]


async def test_no_secret_reaches_logs_redis_or_slack(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    recorder: HttpRecorder,
    real_redis: ArqRedis,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With logging at DEBUG, every source accepted and refused and the worker run to Slack, no
    canary secret, signature or Authorization value is in the logs, Redis, Slack or a response."""
    settings = make_settings(
        slack_webhook_url=recorder.url, log_level="DEBUG", log_format="json", **CANARIES
    )
    configure_logging(settings)
    caplog.set_level(logging.DEBUG)
    client = await make_client(settings, real_redis)
    answers, carried = [], []
    for request, status in deliveries():
        response = await client.post(**request.kwargs())
        assert response.status_code == status, response.text
        answers.append(response.text)
        carried += on_the_wire(request)
    worker = build_worker(settings, PlantaoConfig(), real_redis, burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()

    output = capsys.readouterr()
    # stdlib records at DEBUG (stricter than plantão, which keeps them at WARNING+), minus the
    # test's own sending client logging the URLs it posts to: the senders know their secrets
    stdlib = [r.getMessage() for r in caplog.records if SENDER not in r.getMessage()]
    places = {
        "logs": output.out + output.err + "\n".join(stdlib),
        "redis": await dump_text(real_redis),
        "slack": repr(recorder.requests),
        "responses": json.dumps(answers),
    }
    assert "alerts.received" in places["logs"] and "incident" in places["redis"]
    assert len(recorder.requests) >= 3  # Slack did hear about the incidents
    secrets = {*CANARIES.values(), *carried}
    leaks = {(place, s) for place, text in places.items() for s in secrets if s in text}
    assert leaks == set()
