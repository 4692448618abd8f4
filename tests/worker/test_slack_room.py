"""Slack as the incident room, end to end on a local Slack: one message per incident updated in
place, a thread of what happened, and buttons that round-trip through the worker."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis

from core.approvals import Click
from core.config import SlackConfig
from core.duty_config import EscalationConfig
from core.models import Severity
from core.step_decisions import JOBS as DECISION_JOBS
from core.store import Store
from tests.support.slack_room import (
    ERRORS,
    FIRING,
    RESOLVED,
    MakeRoom,
    ran,
    resolved_body,
)
from webhook.slack import JOBS
from worker.deps import CTX_KEY, Deps
from worker.scheduler import Scheduler
from worker.slack_jobs import SLACK_JOBS, slack_escalate


def test_every_button_has_a_job() -> None:
    """The webhook enqueues by name exactly the jobs the worker registers for buttons, and the
    operator API's decisions name jobs among them."""
    assert set(JOBS.values()) == {j.__name__ for j in SLACK_JOBS}
    assert set(DECISION_JOBS.values()) <= set(JOBS.values())


async def test_one_message_per_incident_updated_in_place_with_a_thread(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """Re-deliveries post nothing new; resolution updates the message and adds to the thread."""
    room = await make_room(real_redis)
    await room.alert(FIRING)
    await room.alert(FIRING)
    await room.drain()
    top = room.top()
    assert top.text.startswith("🔴 P0 · api_down · worker")
    assert top.metadata["event_payload"]["incident"] == "1"
    thread = room.thread()
    assert "Draft for users (runbook 004" in thread  # P0: the users' notification
    await room.alert(RESOLVED)
    await room.drain()
    top = room.top()  # still exactly one top-level message
    assert top.edits and "resolved" in str(top.blocks)
    assert not [b for b in top.blocks if b["type"] == "actions"]
    assert "Resolved after" in room.thread()


async def test_acknowledge_round_trip_updates_message_and_timeline(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """Acknowledge moves the incident, names the Slack user on the timeline and the message."""
    room = await make_room(real_redis)
    await room.alert(FIRING)
    await room.drain()
    await room.click("ack", "1")
    incident = await Store(real_redis).incident("1")
    assert incident is not None and incident.state == "acknowledged"
    events = [(e.actor, e.event) for e in await Store(real_redis).timeline("1")]
    assert ("slack:U0ANA (u0ana)", "slack.ack") in events
    assert "slack:U0ANA (u0ana)" in str(room.top().blocks)
    assert "pressed" not in room.thread() and "acknowledged" in room.thread()


async def test_approve_runs_the_step_once_and_a_replay_is_refused(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """An approval is single-use: the step runs once; the second click gets an ephemeral reason."""
    room = await make_room(real_redis)
    await room.alert(ERRORS)
    await room.drain()
    value = room.step_value()
    await room.click("approve", value, ts="2.1")
    assert await ran(real_redis) == 1
    assert "approved by U0ANA" in room.thread()
    await room.click("approve", value, user="U0BOB", ts="2.2")
    assert await ran(real_redis) == 1
    assert "already used" in room.stub.ephemeral[-1]["text"]
    assert room.stub.ephemeral[-1]["response_type"] == "ephemeral"


async def test_a_stale_approval_is_refused(make_room: MakeRoom, real_redis: ArqRedis) -> None:
    """An Approve pressed after the approval expired runs nothing and says it expired."""
    room = await make_room(real_redis, slack_approval_ttl_s=0.001)
    await room.alert(ERRORS)
    await room.drain()
    await room.click("approve", room.step_value())
    assert "expired" in room.stub.ephemeral[-1]["text"]
    events = [e.event for e in await Store(real_redis).timeline("1")]
    assert await ran(real_redis) == 0 and "slack.refused" in events


async def test_allow_list_and_two_approvers(make_room: MakeRoom, real_redis: ArqRedis) -> None:
    """Only listed users or group members approve; a two-approver step needs two people."""
    slack = SlackConfig(approvers={Severity.P1: ["U0ANA", "S0ONCALL"]}, two_approvers=[Severity.P1])
    room = await make_room(real_redis, slack=slack)
    room.stub.groups["S0ONCALL"] = ["U0BOB"]
    await room.alert(ERRORS)
    await room.drain()
    value = room.step_value()
    await room.click("approve", value, user="U0EVE", ts="3.1")
    assert "may not approve" in room.stub.ephemeral[-1]["text"]
    await room.click("approve", value, user="U0ANA", ts="3.2")
    assert "second, different" in room.stub.ephemeral[-1]["text"]
    await room.click("approve", value, user="U0ANA", ts="3.3")
    assert "You approved already" in room.stub.ephemeral[-1]["text"]
    await room.click("approve", value, user="U0BOB", ts="3.4")  # via the user group
    assert await ran(real_redis) == 1


def storm_body(n: int) -> bytes:
    """One Alertmanager delivery: ServiceDown on service `svc-{n}` (its own incident)."""
    body = json.loads(FIRING)
    alert = body["alerts"][0]
    alert["labels"] = {**alert["labels"], "service": f"svc-{n}", "instance": f"svc-{n}:1"}
    alert["fingerprint"] = f"{n:016x}"
    body["alerts"] = [alert]
    body["groupLabels"] = {"alertname": "ServiceDown", "service": f"svc-{n}"}
    body["commonLabels"] = alert["labels"]
    return json.dumps(body).encode()


async def test_500_alerts_in_10_s_into_one_channel_all_delivered(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """A storm of 500 incidents at a (scaled) per-channel limit: one message each, none lost,
    Slack's Retry-After never broken, their thread replies digested."""
    room = await make_room(real_redis, slack_min_interval_s=0.002, worker_max_jobs=100)
    room.stub.min_interval_s, room.stub.retry_after_s = 0.002, 0.05
    started = time.monotonic()
    await asyncio.gather(*(room.alert(storm_body(n)) for n in range(500)))
    assert time.monotonic() - started < 10
    await room.drain()
    tops = room.stub.top()
    assert sorted((m.metadata or {})["event_payload"]["incident"] for m in tops) == sorted(
        str(n) for n in range(1, 501)
    )
    assert all(room.stub.thread(m.ts) for m in tops)  # every incident has its thread
    assert room.stub.early == []


async def test_an_escalation_is_a_reply_with_the_mention_in_the_incident_thread(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """The scheduler's escalation of an unacknowledged P0 lands in its thread, not top level."""
    room = await make_room(real_redis)
    roles = EscalationConfig(escalation_engineer=["U0ENGINEER"])
    room.config = room.config.model_copy(update={"escalation": roles})
    await room.alert(FIRING)
    await room.drain()
    scheduler = Scheduler(real_redis, Store(real_redis), "test", config=room.config)
    assert await scheduler.tick()
    await scheduler.run_duties(datetime.now(UTC) + timedelta(minutes=31))
    await room.drain()
    top = room.top()  # still the only top-level message
    [reply] = [m for m in room.stub.thread(top.ts) if "escalated" in m.text]
    assert reply.text.startswith("<@U0ENGINEER> ")
    assert "escalated to the Escalation Engineer" in reply.text


async def test_a_post_mortem_draft_notice_is_a_reply_in_the_incident_thread(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """A resolved P0's post-mortem draft is announced in its thread, not as a new message."""
    room = await make_room(real_redis)
    await room.alert(FIRING)
    await room.drain()
    await room.alert(RESOLVED)
    await room.drain()
    incident = await Store(real_redis).incident("1")
    assert incident is not None and incident.severity in (Severity.P0, Severity.P1)
    scheduler = Scheduler(real_redis, Store(real_redis), "test", config=room.config)
    assert await scheduler.tick()
    await scheduler.run_duties(datetime.now(UTC) + timedelta(hours=1))
    await room.drain()
    top = room.top()  # still the only top-level message
    [reply] = [m for m in room.stub.thread(top.ts) if "Post-mortem draft ready" in m.text]
    assert "/api/incidents/1/postmortem" in str(reply.blocks)


async def test_escalate_raises_the_level_pages_the_role_and_the_timers_do_not_repeat_it(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """Escalate: engineer, then commander, each mentioned in the thread; a third press is refused;
    the scheduler's timers later page nobody for levels reached by hand."""
    room = await make_room(real_redis)
    roles = EscalationConfig(escalation_engineer=["U0ENG"], incident_commander=["S0CMD"])
    room.config = room.config.model_copy(update={"escalation": roles})
    await room.alert(FIRING)
    await room.drain()
    scheduler = Scheduler(real_redis, Store(real_redis), "test", config=room.config)
    assert await scheduler.tick()
    await scheduler.run_duties(datetime.now(UTC))  # the escalation timers are set now
    await room.click("escalate", "1", ts="6.1")
    incident = await Store(real_redis).incident("1")
    assert incident is not None and incident.escalation == 1
    assert "<@U0ENG>" in room.thread()
    await room.click("escalate", "1", ts="6.2")
    incident = await Store(real_redis).incident("1")
    assert incident is not None and incident.escalation == 2
    assert "<!subteam^S0CMD>" in room.thread()
    await room.click("escalate", "1", ts="6.3")
    assert "top of the matrix" in room.stub.ephemeral[-1]["text"]
    await scheduler.run_duties(datetime.now(UTC) + timedelta(hours=3))
    await room.drain()
    texts = [m.text for m in room.stub.thread(room.top().ts)]
    assert not [t for t in texts if "escalated to the" in t]  # no timer paged again
    events = [e.detail for e in await Store(real_redis).timeline("1")]
    assert len([d for d in events if "by hand" in d]) == 2


async def test_two_escalate_presses_at_once_page_each_role_once(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """Two responders press Escalate together: the engineer and the commander are each
    mentioned in their own thread reply, and the incident is at the top level."""
    room = await make_room(real_redis)
    roles = EscalationConfig(escalation_engineer=["U0ENG"], incident_commander=["U0CMD"])
    room.config = room.config.model_copy(update={"escalation": roles})
    await room.alert(FIRING)
    await room.drain()
    deps = Deps.build(room.settings, room.config, real_redis)
    clicks = [
        Click(action="escalate", incident="1", user=user, action_ts=ts).model_dump_json()
        for user, ts in (("U0ANA", "9.1"), ("U0BIA", "9.2"))
    ]
    try:  # the two jobs interleaved at every await, as two worker tasks would be
        await asyncio.gather(*(slack_escalate({CTX_KEY: deps}, c) for c in clicks))
    finally:
        await deps.http.aclose()
    await room.drain()
    incident = await Store(real_redis).incident("1")
    assert incident is not None and incident.escalation == 2
    said = [  # one section per click (replies queued together go out as one digest)
        str(b["text"]["text"])
        for m in room.stub.thread(room.top().ts)
        for b in m.blocks
        if "escalated the incident" in str(b)
    ]
    assert len(said) == 2
    [first] = [t for t in said if "level 1" in t]
    [second] = [t for t in said if "level 2" in t]
    assert "<@U0ENG>" in first and "<@U0CMD>" not in first
    assert "<@U0CMD>" in second and "<@U0ENG>" not in second


async def test_refusals_speak_the_rooms_language(make_room: MakeRoom, real_redis: ArqRedis) -> None:
    """With SLACK_LOCALE=pt-BR the person who clicked is told why in Portuguese."""
    room = await make_room(real_redis, slack_locale="pt-BR", slack_approval_ttl_s=0.001)
    await room.alert(ERRORS)
    await room.drain()
    await room.click("approve", room.step_value(), ts="7.1")
    assert "Esta aprovação expirou" in room.stub.ephemeral[-1]["text"]
    await room.click("resolve", "1", ts="7.2")
    await room.click("ack", "1", ts="7.3")
    said = room.stub.ephemeral[-1]["text"]
    assert said == "Não feito: o incidente está resolvido e não pode passar a reconhecido."
    await room.click("escalate", "1", ts="7.4")
    assert room.stub.ephemeral[-1]["text"] == "O incidente está resolvido: não há o que escalonar."


async def test_a_reopened_incident_proposes_its_steps_again_and_old_buttons_are_refused(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """Flapping: the approve step gets a fresh approval for the new opening; the earlier
    opening's button is refused and runs nothing; the new one runs the step."""
    room = await make_room(real_redis)
    await room.alert(ERRORS)
    await room.drain()
    old = room.step_value()
    await room.alert(resolved_body(ERRORS))
    await room.drain()
    await room.alert(ERRORS)  # fires again within the flapping window: reopened
    await room.drain()
    incident = await Store(real_redis).incident("1")
    assert incident is not None and incident.reopened == 1
    new = room.step_value()  # the top message now carries the new proposal's button
    assert new != old and new.endswith("@1")
    assert "Proposed again (reopened)" in room.thread()
    await room.click("approve", old, ts="8.1")
    assert "before the incident reopened" in room.stub.ephemeral[-1]["text"]
    assert await ran(real_redis) == 0
    await room.click("approve", new, ts="8.2")
    assert await ran(real_redis) == 1
