"""Time to mitigate on GET /metrics: observed once per incident, whether a responder mitigates
or resolves it, or its alerts resolve by themselves (the atomic intake, core/ingest.lua)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from arq.connections import ArqRedis
from prometheus_client.parser import text_string_to_metric_families

from core.models import IncidentState
from core.settings import Settings
from core.store import Store
from tests.conftest import MakeClient, fixture_bytes

FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
RESOLVED = fixture_bytes("alertmanager", "captured-am025-resolved-2-alerts-servicedown.json")
AM = "/webhooks/alertmanager"
AUTH = {"Authorization": "Bearer admin-token"}
TTM = "plantao_time_to_mitigate_seconds"
AGO_S = 150  # the first alert came this long before the resolution


@pytest.fixture
async def client(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await make_client(
        make_settings(operator_token="admin-token"), any_redis
    )
    return client


async def samples(
    client: httpx.AsyncClient,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


async def mitigated(client: httpx.AsyncClient) -> float:
    """How many P0 incidents had their time to mitigate observed (0 when none yet)."""
    return (await samples(client)).get((f"{TTM}_count", (("severity", "P0"),)), 0.0)


async def fire(client: httpx.AsyncClient, redis: ArqRedis) -> None:
    """ServiceDown on two workers: incident 1 (api_down P0), first seen AGO_S seconds ago."""
    assert (await client.post(AM, content=FIRING)).json()["incidents"] == ["1"]
    first_seen = int((time.time() - AGO_S) * 1000)
    await redis.hset("plantao:incident:1", "first_seen", str(first_seen))  # type: ignore[misc]


async def test_an_incident_that_resolves_by_itself_records_its_time_to_mitigate(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """Every alert resolves: one observation of about AGO_S seconds, in the le=300 bucket;
    a re-delivery of the resolution adds nothing."""
    await fire(client, any_redis)
    assert await mitigated(client) == 0
    await client.post(AM, content=RESOLVED)
    incident = await Store(any_redis).incident("1")
    assert incident is not None and incident.state is IncidentState.RESOLVED
    found = await samples(client)
    p0 = (("severity", "P0"),)
    assert found[(f"{TTM}_count", p0)] == 1
    assert AGO_S <= found[(f"{TTM}_sum", p0)] < AGO_S + 30
    assert found[(f"{TTM}_bucket", (("le", "60.0"), *p0))] == 0
    assert found[(f"{TTM}_bucket", (("le", "300.0"), *p0))] == 1
    await client.post(AM, content=RESOLVED)  # Alertmanager re-sends the resolved group
    assert await mitigated(client) == 1


async def test_a_mitigation_before_the_alerts_resolve_is_counted_once(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """An executor's verified action moves it to monitoring (observed then); its alerts then
    resolving closes it without a second observation."""
    await fire(client, any_redis)
    await Store(any_redis).transition("1", IncidentState.MONITORING, "plantao", "verified")
    assert await mitigated(client) == 1
    await client.post(AM, content=RESOLVED)
    incident = await Store(any_redis).incident("1")
    assert incident is not None and incident.state is IncidentState.RESOLVED
    assert await mitigated(client) == 1


async def test_a_resolution_by_hand_then_by_the_alerts_is_counted_once(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """POST /api/incidents/1/resolve observes it; the alerts' later resolution does not."""
    await fire(client, any_redis)
    response = await client.post("/api/incidents/1/resolve", headers=AUTH)
    assert response.status_code == 200, response.text
    assert await mitigated(client) == 1
    await client.post(AM, content=RESOLVED)
    assert await mitigated(client) == 1


async def test_a_reopened_incident_is_mitigated_once(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """Flapping (resolved, firing again within the window, resolved again) is one incident
    and one time to mitigate: its first."""
    await fire(client, any_redis)
    await client.post(AM, content=RESOLVED)
    assert (await client.post(AM, content=FIRING)).json()["incidents"] == ["1"]
    incident = await Store(any_redis).incident("1")
    assert incident is not None and incident.reopened == 1
    await client.post(AM, content=RESOLVED)
    assert await mitigated(client) == 1
