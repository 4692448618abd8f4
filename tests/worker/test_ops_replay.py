"""Replays, dead letters and metrics end to end: api -> real Redis -> burst worker -> api."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from arq.connections import ArqRedis
from prometheus_client.parser import text_string_to_metric_families

from core.config import PlantaoConfig, Rule, RuleMatch
from core.models import Scenario
from core.settings import Settings
from core.store import Store
from handlers.types import Endpoint, HttpCheck, Probes
from tests.conftest import MakeClient, fixture_bytes
from tests.support.http_recorder import HttpRecorder
from worker.runner import build_worker

FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
AUTH = {"Authorization": "Bearer admin-token"}
JOB = "incident:1:open"
# The rule change: ServiceDown now means the database is down (not api_down, the default).
AS_DATABASE = PlantaoConfig(
    rules=[
        Rule(
            name="servicedown-is-the-database",
            scenario=Scenario.DATABASE_DOWN,
            match=RuleMatch(alertname=["ServiceDown"]),
        )
    ]
)


@dataclass
class BrokenProbes:
    calls: list[str] = field(default_factory=list)

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck:
        self.calls.append(service)
        raise RuntimeError("probe exploded")


@dataclass
class Ops:
    client: httpx.AsyncClient
    redis: ArqRedis
    slack: HttpRecorder
    drain: Callable[..., Awaitable[int]]


@pytest.fixture
async def ops(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    make_recorder: Callable[[], HttpRecorder],
    real_redis: ArqRedis,
) -> Ops:
    """An api with an admin token and a burst worker whose config and probes a test chooses."""
    slack = make_recorder()
    settings = make_settings(
        slack_webhook_url=slack.url, operator_token="admin-token", job_max_tries=2
    )
    client = await make_client(settings, real_redis)

    async def drain(config: PlantaoConfig | None = None, probes: Probes | None = None) -> int:
        worker = build_worker(
            settings,
            config or PlantaoConfig(),
            real_redis,
            burst=True,
            handle_signals=False,
            probes=probes,
        )
        try:
            await worker.main()
        finally:
            await worker.close()
        return int(worker.jobs_complete)

    return Ops(client, real_redis, slack, drain)


async def _preview_while_a_worker_runs(ops: Ops, config: PlantaoConfig) -> httpx.Response:
    asking = asyncio.create_task(
        ops.client.post(f"/api/jobs/{JOB}/replay", json={"plan": True}, headers=AUTH)
    )
    while not any(k.startswith(b"arq:job:preview:") for k in await ops.redis.keys("arq:job:*")):
        await asyncio.sleep(0.01)
    await ops.drain(config)
    return await asyncio.wait_for(asking, 15)


async def test_preview_shows_what_a_rule_change_would_change_and_runs_nothing(ops: Ops) -> None:
    """After a rule change the preview shows the new scenario and steps, and changes nothing."""
    await ops.client.post("/webhooks/alertmanager", content=FIRING)
    await ops.drain()
    store = Store(ops.redis)
    before = await store.timeline("1")
    original = [e.detail for e in before if e.event == "step.proposed"]
    assert original and len(ops.slack.json_bodies()) == 1

    response = await _preview_while_a_worker_runs(ops, AS_DATABASE)

    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["reclassified"] is True
    assert (preview["original"]["scenario"], preview["now"]["scenario"]) == (
        "api_down",
        "database_down",
    )
    assert preview["original"]["steps"] == original
    assert preview["added"] and preview["removed"] == [
        s for s in original if s not in preview["now"]["steps"]
    ]
    assert {p["decision"] for p in preview["planned"]} <= {
        "dry_run",
        "needs_approval",
        "never",
        "recorded",
        "refused",
    }
    after = await store.timeline("1")
    assert [e.event for e in after[len(before) :]] == ["replay.previewed"]
    assert after[-1].actor == "operator"
    assert len(ops.slack.json_bodies()) == 1  # the preview posted nothing


async def test_preview_without_a_change_says_so(ops: Ops) -> None:
    """With the same rules and handlers the preview proposes what the original run did."""
    await ops.client.post("/webhooks/alertmanager", content=FIRING)
    await ops.drain()
    preview = (await _preview_while_a_worker_runs(ops, PlantaoConfig())).json()
    assert preview["reclassified"] is False
    assert preview["added"] == preview["removed"] == []
    assert preview["unchanged"] == preview["original"]["steps"]


async def test_a_replay_runs_the_handler_again_under_a_new_job_id(ops: Ops) -> None:
    """plan=false queues a new job that re-runs the handler; the timeline says who asked."""
    await ops.client.post("/webhooks/alertmanager", content=FIRING)
    await ops.drain()
    queued = await ops.client.post(
        f"/api/jobs/{JOB}/replay", json={"plan": False, "by": "ana"}, headers=AUTH
    )
    assert queued.status_code == 202
    new_id = queued.json()["job_id"]
    assert new_id.startswith(f"replay:{JOB}:")
    await ops.drain(AS_DATABASE)
    shown = (await ops.client.get(f"/api/jobs/{new_id}", headers=AUTH)).json()
    assert shown["job"]["status"] == "complete"
    assert shown["job"]["function"] == "replay_incident"
    assert shown["job"]["args"][:2] == ["1", "ana"]
    events = [(e.event, e.actor) for e in await Store(ops.redis).timeline("1")]
    assert ("replay.requested", "ana") in events and ("replay.finished", "ana") in events
    assert len(ops.slack.json_bodies()) == 2
    assert "database_down" in str(ops.slack.json_bodies()[-1])


async def test_dead_letters_are_listed_inspected_and_redriven(ops: Ops) -> None:
    """A job that exhausted its tries is kept with its error and runs again when re-driven."""
    await ops.client.post("/webhooks/alertmanager", content=FIRING)
    await ops.drain(probes=BrokenProbes())
    listed = (await ops.client.get("/api/deadletters", headers=AUTH)).json()
    assert [(d["job_id"], d["function"], d["args"]) for d in listed] == [
        (JOB, "handle_incident", ["1"])
    ]
    one = (await ops.client.get(f"/api/deadletters/{JOB}", headers=AUTH)).json()
    assert "probe exploded" in one["error"] and one["tries"] == 2
    job = (await ops.client.get(f"/api/jobs/{JOB}", headers=AUTH)).json()
    assert job["job"]["result"] == "dead-lettered" and job["dead_letter"]["job_id"] == JOB

    redriven = await ops.client.post(f"/api/deadletters/{JOB}/redrive", headers=AUTH)
    assert redriven.status_code == 202
    again = await ops.client.post(f"/api/deadletters/{JOB}/redrive", headers=AUTH)
    assert again.status_code == 409  # re-driven once only
    assert (await ops.client.get("/api/deadletters", headers=AUTH)).json() == []
    await ops.drain()
    new = (await ops.client.get(f"/api/jobs/{redriven.json()['job_id']}", headers=AUTH)).json()
    assert new["job"]["status"] == "complete"
    events = [e.event for e in await Store(ops.redis).timeline("1")]
    assert "deadletter.redriven" in events and events.count("diagnosed") == 1


async def test_metrics_parse_and_count_across_processes(ops: Ops) -> None:
    """/metrics parses with Prometheus' own parser and shows what api and worker counted."""
    await ops.client.post("/webhooks/alertmanager", content=FIRING)
    await ops.client.post("/webhooks/alertmanager", content=FIRING)  # a re-delivery
    await ops.client.post("/webhooks/alertmanager", content=b"{not json")
    await ops.drain(probes=BrokenProbes())
    await ops.client.post("/api/incidents/1/ack", headers=AUTH)
    response = await ops.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("plantao_alerts_received_total", source="alertmanager", outcome="accepted") == 2
    assert value("plantao_alerts_received_total", source="alertmanager", outcome="duplicates") == 2
    assert ("plantao_alerts_received_total", (("outcome", "rejected"),)) not in samples
    assert value("plantao_jobs_dead_lettered_total", function="handle_incident") == 1
    assert value("plantao_jobs_retried_total", function="handle_incident") == 1
    assert value("plantao_job_duration_seconds_count", function="handle_incident") == 2
    assert value("plantao_dead_letters") == 1
    assert value("plantao_time_to_acknowledge_seconds_count", severity="P0") == 1
    assert value("plantao_incidents", state="acknowledged", severity="P0", scenario="api_down") == 1
    assert value("plantao_heartbeat_age_seconds", role="worker") >= 0
    assert value("plantao_switch_on", switch="pause") == 0
    assert value("plantao_slack_outbox", state="queued") == 0
