"""Alerts plantão raises itself (post-deploy verification, checklist) are inhibited, silenced
and put in maintenance exactly as a webhook's alerts are: one admission for every source."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis
from prometheus_client.parser import text_string_to_metric_families

from core.models import IncidentState, Scenario, Severity
from core.queue import QUEUE_NAME
from core.settings import Settings
from core.silences import Matcher, Silence, Silences
from tests.conftest import MakeClient
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import Rig, make_rig
from tests.worker.test_duty_deploys import WINDOW, deployed, poll
from worker.duties.alerts import Raised, raise_alerts

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]
TOKEN = "am-token"
DB_INHIBITS_DEPLOYS = """
[[inhibit]]
source = ["database_down"]
target = ["deploy_failed"]
"""


def am_body(name: str, firing: bool = True, service: str = "api") -> bytes:
    """An Alertmanager v4 delivery of one alert (the fields our parser reads)."""
    alert = {
        "status": "firing" if firing else "resolved",
        "labels": {"alertname": name, "service": service},
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": "2026-11-24T22:11:44.619Z",
        "endsAt": "0001-01-01T00:00:00Z" if firing else "2026-11-24T22:20:00Z",
        "generatorURL": "http://prometheus.example:9090/graph",
        "fingerprint": f"fp-{name}-{service}",
    }
    body = {"version": "4", "status": alert["status"], "receiver": "plantao", "alerts": [alert]}
    return json.dumps(body).encode()


async def _events(rig: Rig, incident_id: str) -> list[str]:
    return [f"{e.event} {e.detail}" for e in await rig.store.timeline(incident_id)]


@pytest.mark.parametrize("via", ["webhook", "post_deploy"])
async def test_an_open_database_outage_inhibits_deploy_failed_from_either_path(
    via: str,
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    make_client: MakeClient,
) -> None:
    """With `[[inhibit]] database_down -> deploy_failed`, a deploy_failed for a service whose
    database is down joins the outage's timeline and notifies nobody, whether Alertmanager or
    plantão's post-deploy verification raised it."""
    rig = await make_rig(real_redis, make_recorder, make_settings, WINDOW + DB_INHIBITS_DEPLOYS)
    client = await make_client(make_settings(alertmanager_token=TOKEN), real_redis, rig.config)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    opened = await client.post(
        "/webhooks/alertmanager", content=am_body("PostgresDown"), headers=auth
    )
    assert opened.json()["incidents"] == ["1"]
    if via == "webhook":
        response = await client.post(
            "/webhooks/alertmanager", content=am_body("DeployFailed"), headers=auth
        )
        assert (response.json()["suppressed"], response.json()["incidents"]) == (1, ["1"])
    else:
        rig.service.respond(503, '{"status": "degraded"}')
        at = await deployed(rig, "d-1")
        await poll(rig, at, range(0, 40, 10))
        timer = await rig.timers.get("verify:api:d-1:3")
        assert (
            timer is not None and timer.outcome == "failed: deploy_failed inhibited by incident 1"
        )
    await rig.drain()
    assert await rig.store.open_incident_ids() == ["1"]
    outage = await rig.store.incident("1")
    assert outage is not None and outage.scenario is Scenario.DATABASE_DOWN
    assert outage.suppressed == 1
    assert any(
        e.startswith("alert.suppressed deploy_failed on api") for e in await _events(rig, "1")
    )
    assert rig.matching("deploy_failed") == []


async def test_without_an_inhibit_rule_post_deploy_opens_deploy_failed_beside_the_outage(
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    make_client: MakeClient,
) -> None:
    """The shipped inhibition does not cover deploy_failed: both incidents are open, as two
    webhook alerts would be."""
    rig = await make_rig(real_redis, make_recorder, make_settings, WINDOW)
    client = await make_client(make_settings(alertmanager_token=TOKEN), real_redis, rig.config)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    await client.post("/webhooks/alertmanager", content=am_body("PostgresDown"), headers=auth)
    rig.service.respond(503, '{"status": "degraded"}')
    await poll(rig, await deployed(rig, "d-1"), range(0, 40, 10))
    open_ = await rig.store.incidents(await rig.store.open_incident_ids())
    assert sorted(i.scenario for i in open_) == [Scenario.DATABASE_DOWN, Scenario.DEPLOY_FAILED]


def _error_rate(firing: bool, day: str = "2026-11-24") -> Raised:
    """The daily checklist's error-rate failure (error_rate_spike P1) on api."""
    return Raised(
        duty="checklist",
        key="api:error_rate",
        service="api",
        scenario=Scenario.ERROR_RATE_SPIKE,
        severity=Severity.P1,
        firing=firing,
        summary="daily checklist: error rate failed on api: 4 %",
        why="daily verification checklist (runbook 000 §7.3): error rate failed",
        occurrence=day if firing else "",
    )


async def test_the_shipped_inhibition_applies_to_a_duty_and_lets_go_when_the_outage_ends(
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    make_client: MakeClient,
) -> None:
    """An open P0 api_down inhibits the checklist's error_rate_spike on the same service (the
    shipped rule); once the outage resolves, the failure still firing gets its own incident."""
    rig = await make_rig(real_redis, make_recorder, make_settings)
    client = await make_client(make_settings(alertmanager_token=TOKEN), real_redis, rig.config)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    await client.post("/webhooks/alertmanager", content=am_body("ServiceDown"), headers=auth)
    taken = await raise_alerts(rig.store, rig.config, [_error_rate(True)])
    assert (taken.suppressed, taken.incidents) == (1, ["1"])
    assert await rig.store.open_incident_ids() == ["1"]
    other = await raise_alerts(rig.store, rig.config, [_error_rate(True)])
    assert other.duplicates == 1  # the same failure again is a duplicate, still inhibited
    await client.post(
        "/webhooks/alertmanager", content=am_body("ServiceDown", firing=False), headers=auth
    )
    outage = await rig.store.incident("1")
    assert outage is not None and outage.state is IncidentState.RESOLVED
    alone = await raise_alerts(rig.store, rig.config, [_error_rate(True)])
    assert (alone.suppressed, alone.incidents) == (0, ["2"])
    incident = await rig.store.incident("2")
    assert incident is not None and incident.scenario is Scenario.ERROR_RATE_SPIKE


async def test_inhibit_empty_list_turns_it_off_for_duties_too(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """`inhibit = []` in PLANTAO_CONFIG: the checklist's failure opens its own incident."""
    rig = await make_rig(real_redis, make_recorder, make_settings)
    config = rig.config.model_copy(update={"inhibit": []})
    outage = Raised("t", "down", "api", Scenario.API_DOWN, Severity.P0, True, "down", "t")
    await raise_alerts(rig.store, config, [outage])
    taken = await raise_alerts(rig.store, config, [_error_rate(True)])
    assert (taken.suppressed, taken.incidents) == (0, ["2"])


async def test_a_silence_and_a_maintenance_window_quiet_a_duty_alert(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """A silence on scenario=error_rate_spike, or a maintenance window of the service, keeps the
    checklist's failure on its incident's timeline without announcing it (no handler job)."""
    now = datetime.now(UTC)
    window = f"""
[[maintenance]]
name = "db-upgrade"
service = "web"
starts = "{(now - timedelta(minutes=5)).isoformat()}"
ends = "{(now + timedelta(hours=1)).isoformat()}"
"""
    rig = await make_rig(real_redis, make_recorder, make_settings, window)
    silence = Silence(
        matchers=[Matcher.parse("scenario=error_rate_spike")],
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        author="ana",
        comment="known",
    )
    await Silences(real_redis).add(silence)
    silenced = await raise_alerts(rig.store, rig.config, [_error_rate(True)])
    in_window = Raised(
        "checklist",
        "web:health",
        "web",
        Scenario.API_DOWN,
        Severity.P0,
        True,
        "web down",
        "daily verification checklist",
    )
    windowed = await raise_alerts(rig.store, rig.config, [in_window])
    assert (silenced.silenced, windowed.silenced) == (1, 1)
    first = await rig.store.incident(silenced.incidents[0])
    second = await rig.store.incident(windowed.incidents[0])
    assert first is not None and first.silenced_by == silence.id
    assert second is not None and second.silenced_by == "maintenance:db-upgrade"
    assert await real_redis.zcard(QUEUE_NAME) == 0  # nothing announced, no handler run


async def test_a_duty_alert_that_resolves_records_the_time_to_mitigate(
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    make_client: MakeClient,
) -> None:
    """The checklist's failure passing later resolves its incident, which GET /metrics counts
    as mitigated (by itself), as for a webhook's alert."""
    rig = await make_rig(real_redis, make_recorder, make_settings)
    client = await make_client(make_settings(), real_redis, rig.config)
    await raise_alerts(rig.store, rig.config, [_error_rate(True)])
    await raise_alerts(rig.store, rig.config, [_error_rate(False)])
    incident = await rig.store.incident("1")
    assert incident is not None and incident.state is IncidentState.RESOLVED
    text = (await client.get("/metrics")).text
    counts = {
        s.labels.get("severity"): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "plantao_time_to_mitigate_seconds_count"
    }
    assert counts == {"P1": 1}
