"""The operator API's switches, jobs and evidence downloads (roles: test_ops_auth.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import structlog.testing
from arq.connections import ArqRedis

from core.settings import Settings
from tests.conftest import MakeClient, fixture_bytes
from worker.guards import Guards

AUTH = {"Authorization": "Bearer admin-token"}
FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")


@pytest.fixture
async def client(
    make_client: MakeClient, make_settings: Callable[..., Settings], real_redis: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    client = await make_client(make_settings(operator_token="admin-token"), real_redis)
    await client.post("/webhooks/alertmanager", content=FIRING)
    yield client


async def test_pause_and_freeze_from_the_api_are_what_the_worker_obeys(
    client: httpx.AsyncClient, real_redis: ArqRedis
) -> None:
    """Switches flipped through the api are the ones worker/guards.py reads, with reason and who."""
    paused = await client.post("/api/switches/pause", json={"reason": "drill"}, headers=AUTH)
    assert paused.status_code == 200 and paused.json()["pause"]["reason"] == "drill"
    state = await Guards(real_redis).state()
    assert state is not None and (state.reason, state.by) == ("drill", "operator")
    await client.post("/api/switches/freeze", json={"reason": "release", "by": "ana"}, headers=AUTH)
    frozen = await Guards(real_redis).frozen()
    assert frozen is not None and frozen.by == "ana"
    await client.post("/api/switches/resume", headers=AUTH)
    shown = (await client.get("/api/switches", headers=AUTH)).json()
    assert (shown["pause"]["on"], shown["freeze"]["on"], shown["dry_run"]) == (False, True, True)
    assert [(c["switch"], c["on"]) for c in shown["history"]] == [
        ("pause", False),
        ("freeze", True),
        ("pause", True),
    ]


async def test_pausing_needs_a_reason(client: httpx.AsyncClient, real_redis: ArqRedis) -> None:
    """A pause without a reason is refused and nothing is paused."""
    response = await client.post("/api/switches/pause", json={}, headers=AUTH)
    assert response.status_code == 422
    assert await Guards(real_redis).state() is None


async def test_a_queued_job_shows_its_function_arguments_and_tries(
    client: httpx.AsyncClient,
) -> None:
    """A job not yet run shows as queued with its function and arguments; unknown ids are 404."""
    job = (await client.get("/api/jobs/incident:1:open", headers=AUTH)).json()["job"]
    assert (job["status"], job["function"], job["args"], job["tries"]) == (
        "queued",
        "handle_incident",
        ["1"],
        0,
    )
    assert (await client.get("/api/jobs/nope", headers=AUTH)).status_code == 404


async def test_a_preview_with_no_worker_answers_202_with_the_job_to_poll(
    client: httpx.AsyncClient,
) -> None:
    """When no worker answers within wait_s the api says where to look instead of hanging."""
    response = await client.post(
        "/api/jobs/incident:1:open/replay", json={"wait_s": 0.1}, headers=AUTH
    )
    assert response.status_code == 202
    assert response.json()["job_id"].startswith("preview:incident:1:open:")
    shown = await client.get(f"/api/jobs/{response.json()['job_id']}", headers=AUTH)
    assert shown.json()["job"]["function"] == "preview_replay"


async def test_evidence_downloads_as_a_json_attachment(
    client: httpx.AsyncClient, real_redis: ArqRedis
) -> None:
    """The stored evidence bundle downloads as a file; none stored is a 404."""
    assert (await client.get("/api/incidents/1/evidence", headers=AUTH)).status_code == 404
    await real_redis.set("plantao:evidence:1", b'{"incident_id": "1", "checks": []}')
    response = await client.get("/api/incidents/1/evidence", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"incident_id": "1", "checks": []}
    assert "plantao-evidence-1.json" in response.headers["content-disposition"]


async def test_the_operations_are_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    """Replay, dead letters, switches, audit and metrics are documented for clients."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/jobs/{job_id}/replay",
        "/api/deadletters/{job_id}/redrive",
        "/api/switches/pause",
        "/api/audit",
        "/metrics",
    ):
        assert path in paths


async def test_log_lines_carry_the_request_id_and_incident_never_the_token(
    client: httpx.AsyncClient,
) -> None:
    """Each request's log lines carry its id (echoed back); a bearer token never shows."""
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        response = await client.post(
            "/api/incidents/1/ack", headers={**AUTH, "X-Request-ID": "req-42"}
        )
        await client.get("/api/incidents", headers={"Authorization": "Bearer wrong"})
    assert response.headers["X-Request-ID"] == "req-42"
    assert logs and all("request_id" in line for line in logs)
    assert "admin-token" not in str(logs) and "wrong" not in str(logs)
