"""The operator API: incidents listed and shown with their timeline, acknowledged, resolved and
silenced; silences created and expired; closed without OPERATOR_TOKEN."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from arq.connections import ArqRedis

from core.queue import QUEUE_NAME
from core.settings import Settings
from tests.conftest import MakeClient, fixture_bytes

TOKEN = "operator-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
ERRORS = fixture_bytes("alertmanager", "captured-am025-firing-3-alerts-mixed-severity.json")


@pytest.fixture
async def client(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    client = await make_client(make_settings(operator_token=TOKEN), any_redis)
    await client.post("/webhooks/alertmanager", content=FIRING)
    await client.post("/webhooks/alertmanager", content=ERRORS)
    yield client


async def test_list_filters_and_show_with_timeline(client: httpx.AsyncClient) -> None:
    """Incidents can be filtered by service, scenario and state; one shows with its timeline."""
    listed = (await client.get("/api/incidents", headers=AUTH)).json()
    assert [i["id"] for i in listed] == ["2", "1"]
    only = (await client.get("/api/incidents?scenario=api_down", headers=AUTH)).json()
    assert [i["service"] for i in only] == ["worker"]
    none = (await client.get("/api/incidents?state=resolved", headers=AUTH)).json()
    assert none == []
    shown = (await client.get("/api/incidents/1", headers=AUTH)).json()
    assert shown["incident"]["scenario"] == "api_down"
    events = [e["event"] for e in shown["timeline"]]
    assert events[:3] == ["incident.opened", "alert.firing", "job.enqueued"]


async def test_ack_records_who_and_a_second_ack_is_409(client: httpx.AsyncClient) -> None:
    """Acknowledging records the responder; repeating it is refused with the reason."""
    acked = await client.post("/api/incidents/1/ack", json={"by": "ana"}, headers=AUTH)
    assert acked.status_code == 200
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", "ana")
    again = await client.post("/api/incidents/1/ack", json={"by": "bia"}, headers=AUTH)
    assert again.status_code == 409 and "already acknowledged" in again.json()["error"]
    timeline = (await client.get("/api/incidents/1", headers=AUTH)).json()["timeline"]
    assert any(e["event"] == "incident.acknowledged" and e["actor"] == "ana" for e in timeline)


async def test_resolve_by_hand_queues_the_resolution_notice(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """A responder's resolve closes the incident and the resolution message is queued."""
    done = await client.post("/api/incidents/1/resolve", json={"by": "ana"}, headers=AUTH)
    assert done.json()["state"] == "resolved"
    queued = [j.decode() for j in await any_redis.zrange(QUEUE_NAME, 0, -1)]
    assert "incident:1:resolved:0" in queued
    assert (await client.post("/api/incidents/1/ack", headers=AUTH)).status_code == 409


async def test_unknown_incident_is_404(client: httpx.AsyncClient) -> None:
    """Naming an incident that does not exist is a 404, not a 5xx."""
    assert (await client.get("/api/incidents/99", headers=AUTH)).status_code == 404
    assert (await client.post("/api/incidents/99/ack", headers=AUTH)).status_code == 404


async def test_silence_an_incident_quiets_it_and_its_new_alerts(client: httpx.AsyncClient) -> None:
    """Silencing from an incident makes a silence on its service+scenario and marks it."""
    made = await client.post(
        "/api/incidents/2/silence", json={"duration_minutes": 30, "by": "ana"}, headers=AUTH
    )
    assert made.status_code == 201
    shown = (await client.get("/api/incidents/2", headers=AUTH)).json()
    assert shown["incident"]["silenced_by"] == made.json()["id"]
    listed = (await client.get("/api/silences", headers=AUTH)).json()
    assert [s["id"] for s in listed] == [made.json()["id"]]


async def test_create_and_expire_a_silence(client: httpx.AsyncClient) -> None:
    """A silence from matchers silences new alerts until it is expired."""
    made = await client.post(
        "/api/silences",
        json={"matchers": ["service=worker"], "comment": "rebooting", "author": "ana"},
        headers=AUTH,
    )
    assert made.status_code == 201
    resolved = fixture_bytes("alertmanager", "captured-am025-resolved-2-alerts-servicedown.json")
    await client.post("/webhooks/alertmanager", content=resolved)
    again = FIRING.replace(b"2026-11-24T", b"2026-11-26T")
    assert (await client.post("/webhooks/alertmanager", content=again)).json()["silenced"] == 2
    expired = await client.delete(f"/api/silences/{made.json()['id']}", headers=AUTH)
    assert expired.status_code == 200
    later = FIRING.replace(b"2026-11-24T", b"2026-11-27T")
    assert (await client.post("/webhooks/alertmanager", content=later)).json()["silenced"] == 0


@pytest.mark.parametrize("matchers", [[], ["nonsense"], ["service=~("]])
async def test_bad_silences_are_422(client: httpx.AsyncClient, matchers: list[str]) -> None:
    """A silence that cannot match sensibly is refused, naming the problem."""
    response = await client.post(
        "/api/silences", json={"matchers": matchers, "comment": "x"}, headers=AUTH
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}]
)
async def test_wrong_or_missing_token_is_401(
    client: httpx.AsyncClient, any_redis: ArqRedis, headers: dict[str, str]
) -> None:
    """Without the operator token nothing is shown or changed."""
    before = await any_redis.hgetall("plantao:incident:1")
    assert (await client.get("/api/incidents", headers=headers)).status_code == 401
    assert (await client.post("/api/incidents/1/ack", headers=headers)).status_code == 401
    assert await any_redis.hgetall("plantao:incident:1") == before


async def test_without_operator_token_the_api_is_closed(
    make_client: MakeClient, make_settings: Callable[..., Settings], embedded_redis: ArqRedis
) -> None:
    """With OPERATOR_TOKEN unset the operator API refuses everyone, saying how to open it."""
    client = await make_client(make_settings(), embedded_redis)
    response = await client.get("/api/incidents", headers=AUTH)
    assert response.status_code == 401 and "OPERATOR_TOKEN" in response.json()["error"]
