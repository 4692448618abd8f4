"""Post-deploy verification (runbooks 001 and 002): after a successful deployment, /health/deep
is polled for a bounded time; not 200 opens deploy_failed, CRITICAL opens environment_mismatch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from arq.connections import ArqRedis

from core.models import Alert, Classification, IncidentState, Scenario, Severity, Source
from core.settings import Settings
from core.store import Arrival
from tests.conftest import MakeClient, fixture_bytes
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import Rig, make_rig

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]
WINDOW = """
[scheduler]
checklist = ""
verify_window_s = 30
verify_interval_s = 10
"""
SEC = timedelta(seconds=1)


async def deployed(rig: Rig, deployment: str) -> datetime:
    """A source reports a successful deployment of `api` (as a Railway SUCCESS event does)."""
    alert = Alert(
        source=Source.RAILWAY,
        fingerprint="railway:failed:env:api",
        name="DeploymentFailed",
        service="api",
        firing=False,
        starts_at=deployment,
        summary="Railway deployment succeeded",
        deployment=deployment,
    )
    found = Classification(scenario=Scenario.DEPLOY_FAILED, severity=Severity.P1, rule="t", why="t")
    await rig.store.ingest([Arrival(alert, found, "deploy_failed|api")])
    [(newest, at), *_] = await rig.store.deployments("api")
    assert newest == deployment
    return at


async def poll(rig: Rig, start: datetime, seconds: range) -> None:
    """A scheduler round at each of `seconds` after `start`, the worker drained after each."""
    for second in seconds:
        await rig.round(start + second * SEC)
        await rig.drain()


async def test_a_deployment_whose_deep_health_passes_opens_nothing(
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    make_client: MakeClient,
) -> None:
    """A Railway SUCCESS webhook records the deployment; its /health/deep answers 200 at the
    first poll: verified, nothing posted, no further polls."""
    rig = await make_rig(real_redis, make_recorder, make_settings, WINDOW)
    client = await make_client(make_settings(railway_webhook_token="tok"), real_redis)
    body = fixture_bytes("railway", "derived-new-format-deployment-deployed.json")
    body = body.replace(b"<service name>", b"api").replace(b"<deployment id>", b"d-1")
    assert (await client.post("/webhooks/railway?token=tok", content=body)).status_code == 202
    [(_, at)] = await rig.store.deployments("api")
    await poll(rig, at, range(0, 60, 10))
    timer = await rig.timers.get("verify:api:d-1:0")
    assert timer is not None and timer.outcome == "passed: /health/deep 200"
    assert await rig.timers.get("verify:api:d-1:1") is None
    assert [r.path for r in rig.service.requests] == ["/health/deep"]
    assert rig.texts() == [] and await rig.store.open_incident_ids() == []


async def test_deep_health_failing_through_the_window_opens_deploy_failed_once(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """503 at every poll (0, 10, 20, 30 s): at the end of the window one deploy_failed (P1),
    which the worker handles as any incident (rollback per policy, dry-run here)."""
    rig = await make_rig(real_redis, make_recorder, make_settings, WINDOW)
    rig.service.respond(503, '{"status": "degraded"}')
    at = await deployed(rig, "d-1")
    await poll(rig, at, range(0, 25, 10))
    assert await rig.store.open_incident_ids() == []  # still inside the window
    await poll(rig, at, range(30, 70, 10))
    [incident] = await rig.store.incidents(await rig.store.open_incident_ids())
    assert (incident.scenario, incident.severity) == (Scenario.DEPLOY_FAILED, Severity.P1)
    assert incident.rule == "plantao:post_deploy" and incident.labels["deployment"] == "d-1"
    assert len(rig.matching("[P1] deploy_failed on api")) == 1
    deep_polls = [r for r in rig.service.requests if r.path == "/health/deep"]
    assert len(deep_polls) >= 4  # four verification polls, then the handler's own diagnosis
    later = await deployed(rig, "d-2")  # a fixed deployment that passes resolves it
    rig.service.respond(200, '{"status": "ok"}')
    await poll(rig, later, range(0, 11, 10))
    resolved = await rig.store.incident(incident.id)
    assert resolved is not None and resolved.state is IncidentState.RESOLVED


async def test_a_critical_deep_health_opens_environment_mismatch_at_once(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Runbook 001 rule 3: /health/deep saying CRITICAL is a deploy to the wrong environment:
    environment_mismatch (P0) at the first poll, without waiting for the window."""
    rig = await make_rig(real_redis, make_recorder, make_settings, WINDOW)
    rig.service.respond(503, '{"status": "CRITICAL", "reason": "environment marker mismatch"}')
    at = await deployed(rig, "d-1")
    await poll(rig, at, range(0, 1))
    [incident] = await rig.store.incidents(await rig.store.open_incident_ids())
    assert (incident.scenario, incident.severity) == (Scenario.ENVIRONMENT_MISMATCH, Severity.P0)
    await poll(rig, at, range(10, 40, 10))
    assert len(await rig.store.open_incident_ids()) == 1
    assert len([r for r in rig.service.requests if r.path == "/health/deep"]) <= 3


async def test_a_deployment_that_recovers_within_the_window_opens_nothing(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """503 at the first poll, 200 at the second: still starting up, not a failed deploy."""
    rig = await make_rig(real_redis, make_recorder, make_settings, WINDOW)
    rig.service.respond(503, "starting", times=1)
    at = await deployed(rig, "d-1")
    await poll(rig, at, range(0, 60, 10))
    assert await rig.store.open_incident_ids() == [] and rig.texts() == []
    timer = await rig.timers.get("verify:api:d-1:1")
    assert timer is not None and timer.outcome.startswith("passed")


async def test_deployments_older_than_the_lookback_are_not_verified(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """A scheduler that starts hours after a deployment does not poll it."""
    rig = await make_rig(real_redis, make_recorder, make_settings, WINDOW)
    at = await deployed(rig, "d-1")
    await rig.round(at + timedelta(hours=2))
    assert await rig.timers.get("verify:api:d-1:0") is None
