"""Post-mortem drafts (runbook 004 "Post-Incident Review"): a resolved P0/P1 gets a Markdown
draft in the runbook's template, served by the operator API and linked in Slack, once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis

from core.models import IncidentState, Scenario, Severity
from core.settings import Settings
from tests.conftest import MakeClient
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import make_rig, open_incident

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]
TOML = """
[scheduler]
checklist = ""
public_url = "https://plantao.example.com"
"""
AUTH = {"Authorization": "Bearer op-token"}
TEMPLATE = [
    "# Post-Mortem: api_down on api",
    "**Data:**",
    "**Duração:**",
    "**Severity:** P0",
    "**Incident Commander:**",
    "## Timeline",
    "## Impact",
    "## Root Cause",
    "## Resolution",
    "## What Went Well",
    "## What Went Wrong",
    "## Action Items",
]


async def test_a_resolved_p0_gets_a_draft_in_the_runbook_template_once(
    real_redis: ArqRedis,
    make_recorder: Recorders,
    make_settings: SettingsMaker,
    make_client: MakeClient,
) -> None:
    """After the flapping window the draft is written from the timeline (detection, ack,
    proposed steps never approved as open action items), served as text/markdown (404 before)
    and linked in Slack once."""
    rig = await make_rig(real_redis, make_recorder, make_settings, TOML)
    client = await make_client(make_settings(operator_token="op-token"), real_redis)
    rig.service.respond(503, "down")  # /health fails: the handler proposes a restart
    await open_incident(rig.store)
    await rig.drain()  # the handler diagnoses and proposes a restart (approve)
    await rig.store.transition("1", IncidentState.ACKNOWLEDGED, "ana")
    await rig.store.transition("1", IncidentState.RESOLVED, "ana", "restarted by hand")
    now = datetime.now(UTC)
    await rig.round(now + timedelta(minutes=5))  # inside the flapping window: not yet
    await rig.drain()
    response = await client.get("/api/incidents/1/postmortem", headers=AUTH)
    assert response.status_code == 404
    for minutes in (11, 12, 60):
        await rig.round(now + timedelta(minutes=minutes))
        await rig.drain()
    response = await client.get("/api/incidents/1/postmortem", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    draft = response.text
    positions = [draft.index(heading) for heading in TEMPLATE]
    assert positions == sorted(positions)
    assert "incident.acknowledged (ana)" in draft
    assert "incident.resolved (ana): restarted by hand" in draft
    assert "- [ ] restart service `api` (proposed, approve, not done)" in draft
    [link] = rig.matching("Post-mortem draft ready")
    assert "[P0] api_down on api" in link
    blocks = str(rig.slack.json_bodies()[-1]["blocks"])
    assert "https://plantao.example.com/api/incidents/1/postmortem" in blocks
    assert (await client.get("/api/incidents/1/postmortem")).status_code == 401


async def test_p2_incidents_and_reopened_ones_get_no_draft(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Runbook 004 requires drafts for P0/P1 only; an incident that reopened before its draft
    was due gets none for the first resolution."""
    rig = await make_rig(real_redis, make_recorder, make_settings, TOML)
    await open_incident(rig.store, Severity.P2)
    await rig.store.transition("1", IncidentState.RESOLVED, "ana")
    db = Scenario.DATABASE_DOWN
    await open_incident(rig.store, Severity.P1, db, fingerprint="b")
    await open_incident(rig.store, Severity.P1, db, fingerprint="b", firing=False)  # resolves 2
    now = datetime.now(UTC)
    await rig.round(now + timedelta(minutes=1))  # planned: due 10 min after resolution
    await open_incident(rig.store, Severity.P1, db, fingerprint="b")  # flaps back
    await rig.round(now + timedelta(minutes=30))
    await rig.drain()
    assert rig.matching("Post-mortem") == []
    timer = await rig.timers.get("postmortem:2:0")
    assert timer is not None and timer.outcome == "skipped: the incident reopened"
