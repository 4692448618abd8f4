"""POST /webhooks/alertmanager: 202 only once Redis holds incident and job; 4xx write nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from arq.connections import ArqRedis

from core.config import IncidentsConfig, PlantaoConfig
from core.queue import QUEUE_NAME
from core.settings import Settings
from core.store import Store
from tests.conftest import MakeClient, fixture_bytes
from tests.support.redis_server import RedisServer

FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
RESOLVED = fixture_bytes("alertmanager", "captured-am025-resolved-2-alerts-servicedown.json")
URL = "/webhooks/alertmanager"
TOKEN = "am-secret-token"


async def snapshot(redis: ArqRedis) -> dict[bytes, bytes]:
    """Every key with its type, to show a refused request wrote nothing."""
    return {k: await redis.type(k) for k in await redis.keys("*")}


async def queued(redis: ArqRedis) -> list[str]:
    return [j.decode() for j in await redis.zrange(QUEUE_NAME, 0, -1)]


@pytest.fixture
async def client(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    yield await make_client(
        make_settings(alertmanager_token=TOKEN, max_body_bytes=64 * 1024), any_redis
    )


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_a_firing_group_opens_one_incident_with_its_job(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """Two alerts of one service and scenario are one incident and one job, held before the 202."""
    response = await client.post(URL, content=FIRING, headers=BEARER)
    assert response.status_code == 202
    body = response.json()
    assert body == {
        "accepted": 2,
        "duplicates": 0,
        "silenced": 0,
        "suppressed": 0,
        "incidents": ["1"],
    }
    incident = await Store(any_redis).incident("1")
    assert incident is not None
    assert (incident.scenario, incident.severity, incident.service) == ("api_down", "P0", "worker")
    assert incident.alert_count == 2
    assert await queued(any_redis) == ["incident:1:open"]
    job = json.loads(await any_redis.get("arq:job:incident:1:open"))
    assert (job["f"], job["a"]) == ("handle_incident", ["1"])


async def test_a_repeated_delivery_makes_no_new_job(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """Alertmanager re-sends the group every group_interval: the copy is counted, nothing more."""
    await client.post(URL, content=FIRING, headers=BEARER)
    again = await client.post(URL, content=FIRING, headers=BEARER)
    assert again.status_code == 202
    assert again.json() == {
        "accepted": 0,
        "duplicates": 2,
        "silenced": 0,
        "suppressed": 0,
        "incidents": ["1"],
    }
    assert await queued(any_redis) == ["incident:1:open"]
    incident = await Store(any_redis).incident("1")
    assert incident is not None and incident.duplicates == 2


async def test_resolution_of_every_alert_resolves_the_incident(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """When all firing alerts of an incident resolve, it resolves and a resolution job is queued."""
    await client.post(URL, content=FIRING, headers=BEARER)
    response = await client.post(URL, content=RESOLVED, headers=BEARER)
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "silenced": 0,
        "suppressed": 0,
        "incidents": ["1"],
    }
    incident = await Store(any_redis).incident("1")
    assert incident is not None and incident.state == "resolved"
    assert await queued(any_redis) == ["incident:1:open", "incident:1:resolved:0"]
    events = [e.event for e in await Store(any_redis).timeline("1")]
    assert events.count("alert.resolved") == 2 and events[-2:] == [
        "incident.resolved",
        "job.enqueued",
    ]


async def test_partial_resolution_keeps_the_incident_open(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """One of two alerts resolving leaves the incident triggered."""
    await client.post(URL, content=FIRING, headers=BEARER)
    one_resolved = json.loads(RESOLVED)
    one_resolved["alerts"] = one_resolved["alerts"][:1]
    await client.post(URL, content=json.dumps(one_resolved), headers=BEARER)
    incident = await Store(any_redis).incident("1")
    assert incident is not None and incident.state == "triggered"


async def test_firing_again_within_the_flapping_window_reopens_the_incident(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """A resolved alert that fires again soon reopens its incident and queues one reopen notice."""
    await client.post(URL, content=FIRING, headers=BEARER)
    await client.post(URL, content=RESOLVED, headers=BEARER)
    later = FIRING.replace(b"2026-11-24T", b"2026-11-25T")
    response = await client.post(URL, content=later, headers=BEARER)
    assert response.json()["incidents"] == ["1"]
    incident = await Store(any_redis).incident("1")
    assert incident is not None and (incident.state, incident.reopened) == ("triggered", 1)
    assert "incident:1:reopened:1" in await queued(any_redis)


async def test_after_the_flapping_window_a_new_incident_opens(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> None:
    """With the window over (here: disabled), a fresh start is a new incident with its own job."""
    config = PlantaoConfig(incidents=IncidentsConfig(flap_window_s=0))
    client = await make_client(make_settings(), any_redis, config)
    await client.post(URL, content=FIRING)
    await client.post(URL, content=RESOLVED)
    later = FIRING.replace(b"2026-11-24T", b"2026-11-25T")
    response = await client.post(URL, content=later)
    assert response.json()["incidents"] == ["2"]
    assert "incident:2:open" in await queued(any_redis)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"bearer {TOKEN[:-1]}"},
        {"Authorization": f"Token {TOKEN}"},
        basic("alertmanager", "wrong"),
        {"Authorization": "Basic !!!notbase64"},
    ],
)
async def test_bad_credentials_are_401_and_write_nothing(
    client: httpx.AsyncClient, any_redis: ArqRedis, headers: dict[str, str]
) -> None:
    """Missing or wrong credentials get 401 and leave Redis exactly as it was."""
    before = await snapshot(any_redis)
    response = await client.post(URL, content=FIRING, headers=headers)
    assert response.status_code == 401
    assert "credentials" in response.json()["error"]
    assert await snapshot(any_redis) == before


async def test_basic_auth_with_the_token_as_password_is_accepted(client: httpx.AsyncClient) -> None:
    """Alertmanager's basic_auth works with ALERTMANAGER_TOKEN as the password."""
    response = await client.post(URL, content=FIRING, headers=basic("alertmanager", TOKEN))
    assert response.status_code == 202


async def test_over_the_size_cap_is_413_and_writes_nothing(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """A body over the cap is refused by its declared length, before it is read."""
    before = await snapshot(any_redis)
    response = await client.post(URL, content=b"x" * (64 * 1024 + 1), headers=BEARER)
    assert response.status_code == 413
    assert await snapshot(any_redis) == before


async def test_a_chunked_body_over_the_cap_is_413(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """Without a Content-Length the cap is enforced while reading the stream."""
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(200):
            sent += 1
            yield b"y" * 1024

    before = await snapshot(any_redis)
    response = await client.post(URL, content=chunks(), headers=BEARER)
    assert response.status_code == 413
    assert await snapshot(any_redis) == before


async def test_a_body_at_the_cap_is_read(client: httpx.AsyncClient) -> None:
    """Exactly cap bytes is allowed (and here refused only as malformed JSON)."""
    response = await client.post(URL, content=b" " * (64 * 1024), headers=BEARER)
    assert response.status_code == 422


async def test_a_malformed_body_is_422_naming_the_field(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """A body missing a required field says which one, and nothing is written."""
    payload = json.loads(FIRING)
    del payload["alerts"][1]["status"]
    before = await snapshot(any_redis)
    response = await client.post(URL, content=json.dumps(payload), headers=BEARER)
    assert response.status_code == 422
    assert "alerts.1.status" in response.json()["error"]
    assert await snapshot(any_redis) == before


async def test_an_unknown_source_is_422(client: httpx.AsyncClient) -> None:
    """Only the sources plantão knows have a webhook."""
    response = await client.post("/webhooks/nagios", content=FIRING, headers=BEARER)
    assert response.status_code == 422
    assert "source" in response.text


async def test_without_a_configured_token_alertmanager_is_open(
    make_client: MakeClient, make_settings: Callable[..., Settings], embedded_redis: ArqRedis
) -> None:
    """With ALERTMANAGER_TOKEN unset (development) no credentials are asked for."""
    client = await make_client(make_settings(), embedded_redis)
    assert (await client.post(URL, content=FIRING)).status_code == 202


async def test_redis_down_is_503_with_retry_after_and_ready_says_why(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    private_redis: RedisServer,
) -> None:
    """With Redis gone nothing is acknowledged: 503 (the sender retries); /health/ready tells."""
    from core.queue import connect

    redis = connect(private_redis.url)
    client = await make_client(make_settings(), redis)
    assert (await client.post(URL, content=FIRING)).status_code == 202
    private_redis.kill()
    response = await client.post(URL, content=RESOLVED)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert "Redis unavailable" in ready.json()["redis"]
    assert (await client.get("/health")).status_code == 200
    private_redis.start()
    assert (await client.post(URL, content=RESOLVED)).status_code == 202
    await redis.aclose()


async def test_labels_and_summaries_outside_ascii_are_kept_as_sent(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """Brazilian teams label in Portuguese: what is stored reads back exactly as it was sent."""
    alert = {
        "status": "firing",
        "labels": {"alertname": "ServiceDown", "service": "geração", "equipe": "plantão 🚨"},
        "annotations": {"summary": "Serviço de geração fora do ar"},
        "startsAt": "2026-11-25T03:00:00Z",
        "fingerprint": "utf8",
    }
    body = json.dumps({"version": "4", "status": "firing", "alerts": [alert]}, ensure_ascii=False)
    response = await client.post(URL, content=body.encode(), headers=BEARER)
    assert response.status_code == 202
    incident = await Store(any_redis).incident(response.json()["incidents"][0])
    assert incident is not None
    assert incident.service == "geração"
    assert incident.summary == "Serviço de geração fora do ar"
    assert incident.labels["equipe"] == "plantão 🚨"
