"""The rollout watchdog (runbook 000 §9): every 5 minutes each configured rollout's status; a
phase over its error-rate limit (alpha 5 %, beta 2 %, GA 1 %) opens rollout_regression."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis

from core.models import IncidentState, Scenario, Severity
from core.settings import Settings
from tests.conftest import MakeClient
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import Rig, make_rig
from tests.worker.test_duty_alerts import am_body

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]
T0 = datetime(2025, 3, 12, 12, 2, tzinfo=UTC)  # a Wednesday: no other reminder due


def status(phase: str, rate: float) -> dict[str, object]:
    return {"featureKey": "new_dashboard", "currentPhase": phase, "metrics": {"errorRate": rate}}


STATUS_PATH = "/api/feature-flags/rollout/new_dashboard/status"
# the service's status API, which the watchdog and the rollout_regression handler both read
NEW_SPELLING = """
[scheduler]
checklist = ""
[services.api]
rollout_status_url = "{url}/api/feature-flags/rollout/new_dashboard/status"
rollout_status_token = "admin-token"
[[rollouts]]
feature = "new_dashboard"
service = "api"
"""
# the first spelling (deprecated): the status API on the [[rollouts]] entry itself
OLD_SPELLING = """
[scheduler]
checklist = ""
[[rollouts]]
feature = "new_dashboard"
service = "api"
status_url = "{url}/api/feature-flags/rollout/new_dashboard/status"
bearer_token = "admin-token"
"""


async def watched(
    redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    toml: str = NEW_SPELLING,
) -> tuple[Rig, HttpRecorder]:
    api = make_recorder()
    rig = await make_rig(
        redis, make_recorder, make_settings, toml.replace("{url}", api.url), services=()
    )
    return rig, api


async def every_five_minutes(rig: Rig, start: datetime, rounds: int) -> None:
    for n in range(rounds):
        await rig.round(start + timedelta(minutes=5 * n))
        await rig.drain()


@pytest.mark.parametrize("spelling", [NEW_SPELLING, OLD_SPELLING], ids=["service", "deprecated"])
@pytest.mark.parametrize(
    ("phase", "rate", "opens"),
    [("alpha", 4.9, False), ("alpha", 5.1, True), ("beta", 2.5, True), ("GA", 1.2, True)],
)
async def test_a_phase_over_its_error_rate_limit_opens_rollout_regression(
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    phase: str,
    rate: float,
    opens: bool,
    spelling: str,
) -> None:
    """The limit depends on the phase; the status API is asked with the admin bearer token,
    whether the URL is the service's `rollout_status_url` or the deprecated `status_url`."""
    rig, api = await watched(real_redis, make_recorder, make_settings, spelling)
    api.respond(200, status(phase, rate))
    await every_five_minutes(rig, T0, 3)  # planned at 12:02, polled at 12:05 and 12:10
    # two polls, and when it opens the handler's diagnosis reads the same API once more
    assert [r.path for r in api.requests] == [STATUS_PATH] * (2 + int(opens))
    assert {r.headers["authorization"] for r in api.requests} == {"Bearer admin-token"}
    found = await rig.store.incidents(await rig.store.open_incident_ids())
    assert len(found) == int(opens)
    if opens:
        [incident] = found
        assert (incident.scenario, incident.severity) == (Scenario.ROLLOUT_REGRESSION, Severity.P1)
        assert "runbook 000 §9" in incident.why and f"{rate:g} %" in incident.why
        assert len(rig.matching("[P1] rollout_regression on api")) == 1


async def test_a_rollout_back_under_its_limit_resolves_the_regression(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Once the error rate is back under the limit (after a rollback), the incident resolves."""
    rig, api = await watched(real_redis, make_recorder, make_settings)
    api.respond(200, status("beta", 3.0))
    await every_five_minutes(rig, T0, 2)
    [incident_id] = await rig.store.open_incident_ids()
    api.respond(200, status("alpha", 0.5))
    await every_five_minutes(rig, T0 + timedelta(minutes=10), 1)
    incident = await rig.store.incident(incident_id)
    assert incident is not None and incident.state is IncidentState.RESOLVED


async def test_an_unreachable_status_api_opens_nothing(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """A status API answering 500 or garbage is logged, not mistaken for a regression."""
    rig, api = await watched(real_redis, make_recorder, make_settings)
    api.respond(500, "oops", times=1)
    api.respond(200, "not json")
    await every_five_minutes(rig, T0, 3)
    assert len(api.requests) == 2 and await rig.store.open_incident_ids() == []
    timer = await rig.timers.get("rollouts:2025-03-12T09:10")
    assert timer is not None and timer.outcome == "checked 0 of 1: 0 over the limit"


CUSTOM_LIMITS = NEW_SPELLING + "max_error_rate_pct = { alpha = 8.0, beta = 4.0, ga = 1.0 }\n"


async def test_the_watchdog_and_the_handler_judge_by_the_same_limits(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """With beta's limit raised to 4 % in [[rollouts]], beta at 3 % opens nothing; at 5 % the
    watchdog opens rollout_regression and the handler rolls back one phase, both citing 4 %."""
    rig, api = await watched(real_redis, make_recorder, make_settings, CUSTOM_LIMITS)
    api.respond(200, status("beta", 3.0))
    await every_five_minutes(rig, T0, 2)
    assert await rig.store.open_incident_ids() == []
    api.respond(200, status("beta", 5.0))
    await every_five_minutes(rig, T0 + timedelta(minutes=10), 1)
    [incident] = await rig.store.incidents(await rig.store.open_incident_ids())
    assert "beta error rate 5 % > 4 %" in incident.why
    assert "beta error rate 5 % against 4 %: roll back one phase" in str(rig.slack.json_bodies())


async def test_an_alerts_diagnosis_uses_the_configured_limits(
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    make_client: MakeClient,
) -> None:
    """A RolloutErrorRate alert from Alertmanager while beta is at 3 % (limit 4 % here): the
    handler reads the service's status API and proposes no rollback."""
    rig, api = await watched(real_redis, make_recorder, make_settings, CUSTOM_LIMITS)
    api.respond(200, status("beta", 3.0))
    client = await make_client(make_settings(alertmanager_token="t"), real_redis, rig.config)
    auth = {"Authorization": "Bearer t"}
    body = am_body("RolloutErrorRate")
    assert (await client.post("/webhooks/alertmanager", content=body, headers=auth)).is_success
    await rig.drain()
    assert [r.path for r in api.requests] == [STATUS_PATH]
    shown = str(rig.slack.json_bodies())
    assert "beta error rate 3 % against 4 %: within the phase's limit" in shown
