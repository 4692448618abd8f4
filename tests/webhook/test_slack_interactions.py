"""POST /slack/interactions: Slack's v0 signature, freshness, replay, and never a 5xx."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from fakeredis import FakeServer

from core.errors import BadCredentials
from core.queue import QUEUE_NAME, connect
from core.settings import Settings
from tests.conftest import MakeClient
from tests.support.slack_stub import click_body, signed
from webhook.slack import verify

SECRET = "slack-signing-secret"
VECTOR = json.loads(Path("/work/shared/fixtures/slack/signing-vector-slack-docs.json").read_text())


def test_slacks_published_signing_vector_verifies(make_settings: Callable[..., Settings]) -> None:
    """The example from Slack's documentation passes; one changed byte does not."""
    settings = make_settings(slack_signing_secret=VECTOR["signing_secret"])
    headers = {
        "x-slack-request-timestamp": VECTOR["x_slack_request_timestamp"],
        "x-slack-signature": VECTOR["x_slack_signature"],
    }
    body = VECTOR["raw_body"].encode()
    now = float(VECTOR["x_slack_request_timestamp"]) + 10
    verify(headers, body, settings, now=now)
    with pytest.raises(BadCredentials):
        verify(headers, body + b"&", settings, now=now)


async def test_valid_click_is_enqueued_once_even_when_replayed(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> None:
    """A signed click answers 200 at once with one job; the same request again adds none."""
    client = await make_client(make_settings(slack_signing_secret=SECRET), any_redis)
    body = click_body("ack", "7")
    headers = signed(SECRET, body)
    for _ in range(2):
        response = await client.post("/slack/interactions", content=body, headers=headers)
        assert response.status_code == 200
    jobs = await any_redis.zrange(QUEUE_NAME, 0, -1)
    assert [j.decode() for j in jobs] == ["slack:ack:U0ANA:1.1:7:"]
    raw = json.loads((await any_redis.get(f"arq:job:{jobs[0].decode()}")) or b"{}")
    assert raw["f"] == "slack_acknowledge" and json.loads(raw["a"][0])["user"] == "U0ANA"


@pytest.mark.parametrize(
    ("make_headers", "status"),
    [
        (lambda body: signed("not-the-secret", body), 401),  # forged
        (lambda body: signed(SECRET, body, int(time.time()) - 301), 400),  # stale
        (lambda body: {"Content-Type": "application/x-www-form-urlencoded"}, 400),  # unsigned
    ],
)
async def test_forged_stale_or_unsigned_clicks_are_refused(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    embedded_redis: ArqRedis,
    make_headers: Callable[[bytes], dict[str, str]],
    status: int,
) -> None:
    """Refused with a 4xx, and nothing is enqueued."""
    client = await make_client(make_settings(slack_signing_secret=SECRET), embedded_redis)
    body = click_body("approve", "7|RestartService:abc")
    response = await client.post("/slack/interactions", content=body, headers=make_headers(body))
    assert response.status_code == status
    assert await embedded_redis.zcard(QUEUE_NAME) == 0


async def test_without_a_signing_secret_the_route_is_closed(
    make_client: MakeClient, make_settings: Callable[..., Settings], embedded_redis: ArqRedis
) -> None:
    """No SLACK_SIGNING_SECRET: every click is refused, whatever it carries."""
    client = await make_client(make_settings(), embedded_redis)
    body = click_body("ack", "7")
    response = await client.post("/slack/interactions", content=body, headers=signed("", body))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("locale", "said"),
    [("en", "could not record your click"), ("pt-BR", "não conseguiu registrar seu clique")],
)
async def test_redis_down_answers_200_with_an_ephemeral_reason(
    make_client: MakeClient, make_settings: Callable[..., Settings], locale: str, said: str
) -> None:
    """A click that cannot be recorded is never a 5xx: the person is told, in SLACK_LOCALE,
    to try again."""
    dead = connect("redis://127.0.0.1:1/0")
    settings = make_settings(slack_signing_secret=SECRET, slack_locale=locale)
    client = await make_client(settings, dead)
    body = click_body("ack", "7")
    response = await client.post("/slack/interactions", content=body, headers=signed(SECRET, body))
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert said in response.json()["text"]


async def test_garbage_payload_is_a_422(
    make_client: MakeClient, make_settings: Callable[..., Settings]
) -> None:
    """A signed body without a valid payload is refused with a clear 422."""
    client = await make_client(
        make_settings(slack_signing_secret=SECRET), connect(None, FakeServer())
    )
    body = b"payload=%7B%22type%22%3A1%7D"
    response = await client.post("/slack/interactions", content=body, headers=signed(SECRET, body))
    assert response.status_code == 422 and "type" in response.json()["error"]


async def test_deep_health_reports_the_slack_backlog(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> None:
    """/health/deep shows how many Slack messages wait in the outbox."""
    await any_redis.zadd("plantao:outbox:queue", {"1": 1, "2": 2})
    client = await make_client(make_settings(), any_redis)
    body = (await client.get("/health/deep")).json()
    assert body["slack_outbox"] == {"queued": 2, "dead": 0, "held_for_s": 0.0}
