"""POST /webhooks/sentry and /webhooks/railway: incidents open and resolve from real bodies,
re-deliveries change nothing, unsigned sources are marked, ignored events write nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from arq.connections import ArqRedis

from core.settings import Settings
from core.store import Store
from tests.conftest import MakeClient, fixture_bytes
from tests.support import senders
from tests.support.redis_state import queued, redis_state


@pytest.fixture
async def client(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    yield await make_client(senders.intake_settings(make_settings), any_redis)


async def post(client: httpx.AsyncClient, request: senders.Request) -> httpx.Response:
    return await client.post(**request.kwargs())


def issue(action: str, issue_id: str = "1170820242") -> bytes:
    """docs-issue-created as Sentry puts it on the wire (compact), with another action."""
    payload = json.loads(fixture_bytes("sentry", "docs-issue-created.json"))
    payload["action"] = action
    payload["data"]["issue"]["id"] = issue_id
    payload["data"]["issue"]["title"] = "OperationalError: FATAL: sorry, too many connections"
    return json.dumps(payload, separators=(",", ":")).encode()


async def test_a_sentry_issue_opens_an_incident_and_its_resolution_resolves_it(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """issue.created opens a signed incident with its job; issue.resolved resolves it."""
    opened = await post(client, senders.sentry(issue("created")))
    assert opened.status_code == 202, opened.text
    assert opened.json()["accepted"] == 1
    (incident_id,) = opened.json()["incidents"]
    incident = await Store(any_redis).incident(incident_id)
    assert incident is not None
    assert (incident.scenario, incident.severity, incident.service) == (
        "database_down",
        "P0",
        "front-end",
    )
    assert not incident.unsigned
    assert len(await queued(any_redis)) == 1
    resolved = await post(client, senders.sentry(issue("resolved")))
    assert resolved.status_code == 202 and resolved.json()["incidents"] == [incident_id]
    incident = await Store(any_redis).incident(incident_id)
    assert incident is not None and incident.state == "resolved"


async def test_a_byte_identical_sentry_redelivery_is_a_2xx_no_op(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """The same signed request twice: 202 both times, one incident, one job."""
    request = senders.sentry(issue("created"))
    await post(client, request)
    jobs = await queued(any_redis)
    again = await post(client, request)
    assert again.status_code == 202
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)
    assert await queued(any_redis) == jobs


async def test_an_assigned_issue_is_acknowledged_and_writes_nothing(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """Deliveries plantão ignores (issue.assigned, installation) answer 202 accepted 0."""
    await post(client, senders.sentry(issue("created")))
    before = await redis_state(any_redis)
    installation = fixture_bytes("sentry", "docs-installation-created.json")
    for request in (
        senders.sentry(issue("assigned")),
        senders.sentry(installation, resource="installation"),
    ):
        response = await post(client, request)
        assert response.status_code == 202
        assert (response.json()["accepted"], response.json()["incidents"]) == (0, [])
    assert await redis_state(any_redis) == before


async def test_a_legacy_plugin_alert_opens_an_unsigned_incident(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """The unsigned plugin is accepted with its URL token and its incident says unsigned."""
    body = fixture_bytes("sentry", "zulip-legacy-webhooks-plugin-python-exception.json")
    response = await post(client, senders.sentry_legacy(body))
    assert response.status_code == 202, response.text
    incident = await Store(any_redis).incident(response.json()["incidents"][0])
    assert incident is not None and incident.unsigned


async def test_the_old_client_secret_is_accepted_while_it_is_set(
    make_client: MakeClient, make_settings: Callable[..., Settings], embedded_redis: ArqRedis
) -> None:
    """During a rotation both secrets verify; deliveries signed with either are accepted."""
    settings = senders.intake_settings(
        make_settings, sentry_client_secret_old=senders.SENTRY_OLD_SECRET
    )
    client = await make_client(settings, embedded_redis)
    old = senders.sentry(issue("created"), secret=senders.SENTRY_OLD_SECRET)
    new = senders.sentry(issue("created", "42"), secret=senders.SENTRY_SECRET)
    assert (await post(client, old)).status_code == 202
    assert (await post(client, new)).status_code == 202


async def test_a_sentry_delivery_is_answered_well_within_sentrys_second(
    client: httpx.AsyncClient,
) -> None:
    """Sentry waits about one second: verification, parsing and the store answer in far less."""
    body = fixture_bytes("sentry", "docs-event_alert-triggered.json")
    slowest = 0.0
    for _ in range(10):
        start = time.perf_counter()
        response = await post(client, senders.sentry(body, resource="event_alert"))
        slowest = max(slowest, time.perf_counter() - start)
        assert response.status_code == 202
    assert slowest < 0.5


RAILWAY_FAILED = fixture_bytes("railway", "docs-new-format-example-deployment-failed.json")
RAILWAY_DEPLOYED = fixture_bytes("railway", "derived-new-format-deployment-deployed.json")
RAILWAY_CRASHED = fixture_bytes("railway", "derived-new-format-deployment-crashed.json")


def later(raw: bytes, stamp: str) -> bytes:
    """The same event at another time (a new failure, not a re-delivery)."""
    return raw.replace(b"2025-11-21T23:48:42.311Z", stamp.encode())


async def test_a_railway_failure_opens_unsigned_deploy_failed_and_success_resolves_it(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """FAILED opens deploy_failed (P1, unsigned); SUCCESS of that service resolves it and is
    recorded as the service's deployment."""
    failed = await post(client, senders.railway(RAILWAY_FAILED))
    assert failed.status_code == 202, failed.text
    (incident_id,) = failed.json()["incidents"]
    store = Store(any_redis)
    incident = await store.incident(incident_id)
    assert incident is not None
    assert (incident.scenario, incident.severity, incident.unsigned) == (
        "deploy_failed",
        "P1",
        True,
    )
    deployed = await post(client, senders.railway(later(RAILWAY_DEPLOYED, "2025-11-22T00:10:00Z")))
    assert deployed.status_code == 202 and deployed.json()["incidents"] == [incident_id]
    incident = await store.incident(incident_id)
    assert incident is not None and incident.state == "resolved"
    assert [d for d, _ in await store.deployments("<service name>")] == ["<deployment id>"]


async def test_a_new_railway_failure_after_a_success_fires_again(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """Fail, succeed, fail again: the second failure is a new alert, open again with a new job
    (a new incident, or the same one reopened inside the store's flapping window)."""
    await post(client, senders.railway(RAILWAY_FAILED))
    await post(client, senders.railway(later(RAILWAY_DEPLOYED, "2025-11-22T00:10:00Z")))
    jobs = await queued(any_redis)
    again = await post(client, senders.railway(later(RAILWAY_FAILED, "2025-11-22T01:00:00Z")))
    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 0)
    incident = await Store(any_redis).incident(again.json()["incidents"][0])
    assert incident is not None and incident.state == "triggered"
    assert len(await queued(any_redis)) > len(jobs)


async def test_a_crash_is_api_down_p0(client: httpx.AsyncClient, any_redis: ArqRedis) -> None:
    """CRASHED is the catalogue's api_down (P0), also unsigned."""
    response = await post(client, senders.railway(RAILWAY_CRASHED))
    incident = await Store(any_redis).incident(response.json()["incidents"][0])
    assert incident is not None
    assert (incident.scenario, incident.severity, incident.unsigned) == ("api_down", "P0", True)


async def test_a_success_with_nothing_open_is_only_recorded(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """A deploy of a healthy service opens nothing and queues nothing; the deploy is kept."""
    response = await post(client, senders.railway(RAILWAY_DEPLOYED))
    assert response.status_code == 202 and response.json()["incidents"] == []
    assert await queued(any_redis) == []
    assert len(await Store(any_redis).deployments("<service name>")) == 1


@pytest.mark.parametrize(
    "name",
    [
        "derived-new-format-deployment-building.json",
        "derived-legacy-format-DEPLOY-building.json",
        "observed-test-webhook-deployed-empty-details.json",
        "docs-legacy-format-DEPLOY-example.json",
    ],
)
async def test_railway_progress_events_are_acknowledged_and_write_nothing(
    client: httpx.AsyncClient, any_redis: ArqRedis, name: str
) -> None:
    """BUILDING, DEPLOYING and the Test Webhook answer 202 accepted 0 and leave Redis as it was."""
    before = await redis_state(any_redis)
    response = await post(client, senders.railway(fixture_bytes("railway", name)))
    assert response.status_code == 202
    assert (response.json()["accepted"], response.json()["incidents"]) == (0, [])
    assert await redis_state(any_redis) == before


async def test_a_redelivered_success_keeps_the_deploy_time(
    client: httpx.AsyncClient, any_redis: ArqRedis
) -> None:
    """A re-delivery of the same SUCCESS is a no-op: the deployment keeps its first time."""
    request = senders.railway(RAILWAY_DEPLOYED)
    await post(client, request)
    first = await Store(any_redis).deployments("<service name>")
    await asyncio.sleep(0.01)
    await post(client, request)
    assert await Store(any_redis).deployments("<service name>") == first
