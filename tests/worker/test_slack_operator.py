"""Operators decide on proposed steps outside Slack, under the buttons' rules: the operator API
(`/api/incidents/{id}/steps`) and `plantao steps|approve|reject`, end to end on a local Slack.
The step runs once, the incident's thread and message show the decision, replays are refused."""

from __future__ import annotations

import asyncio

import pytest
from arq.connections import ArqRedis

from core.audit import read
from core.config import SlackConfig
from core.models import Severity
from core.store import Store
from core.tokens import Role, TokenConfig, token_hash
from tests.conftest import REDIS_TEST_URL
from tests.support.slack_room import ERRORS, MakeRoom, Room, ran, resolved_body
from worker.main import main

ANA = {"Authorization": "Bearer tok-ana"}
TOKENS = [TokenConfig(name="ana-bot", role=Role.RESPONDER, sha256=token_hash("tok-ana"))]


async def proposed(room: Room) -> list[dict[str, object]]:
    response = await room.client.get("/api/incidents/1/steps", headers=ANA)
    assert response.status_code == 200, response.text
    steps: list[dict[str, object]] = response.json()
    return steps


def buttons(room: Room) -> list[str]:
    """The values of the Approve buttons on the incident message as Slack shows it now."""
    return [
        str(element["value"])
        for block in room.top().blocks
        for element in block.get("elements", [])
        if element.get("action_id") == "plantao:approve"
    ]


async def test_a_responder_lists_and_approves_a_step_once_and_a_replay_is_refused(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """The listing gives the step's key; approving it as the token's name runs it once, says so
    in the thread and on the timeline, and is audited; a second decision is a 409, an unknown
    step a 404."""
    room = await make_room(real_redis, tokens=TOKENS)
    await room.alert(ERRORS)
    await room.drain()
    steps = {str(s["step"]): s for s in await proposed(room)}
    step = steps[room.step_value().partition("|")[2]]  # Slack's button: the same key
    assert (step["state"], step["current"], step["needed"]) == ("pending", True, 1)
    url = f"/api/incidents/1/steps/{step['step']}/approve"
    missing = await room.client.post("/api/incidents/1/steps/nope/approve", headers=ANA)
    assert missing.status_code == 404 and "no step 'nope'" in missing.json()["error"]
    approved = await room.client.post(url, headers=ANA)
    assert approved.status_code == 202, approved.text
    assert approved.json()["outcome"] == "approved" and approved.json()["job"]
    await room.drain()
    assert await ran(real_redis) == 1
    assert "approved by ana-bot" in room.thread()
    after = next(s for s in await proposed(room) if s["step"] == step["step"])
    assert (after["state"], after["by"]) == ("approved", "ana-bot") and after["result"]
    again = await room.client.post(url, headers=ANA)
    assert again.status_code == 409 and "already used" in again.json()["error"]
    await room.drain()
    assert await ran(real_redis) == 1
    events = [(e.actor, e.event) for e in await Store(real_redis).timeline("1")]
    assert ("operator:ana-bot", "operator.approve") in events
    assert ("operator:ana-bot", "operator.refused") in events
    audited = [(r.who, r.action, r.target, r.outcome[:24]) for r in await read(real_redis)]
    target = f"1,{step['step']}"
    assert audited[:2] == [
        ("ana-bot", "approve_step", target, "error: InvalidTransition"),
        ("ana-bot", "approve_step", target, "ok"),
    ]


async def test_an_operator_approval_counts_as_one_of_two_approvers(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """A P1 step that needs two approvers: the API's approval waits (and the thread says so),
    a Slack click by someone else completes it."""
    slack = SlackConfig(two_approvers=[Severity.P1])
    room = await make_room(real_redis, slack=slack, tokens=TOKENS)
    await room.alert(ERRORS)
    await room.drain()
    value = room.step_value()
    url = f"/api/incidents/1/steps/{value.partition('|')[2]}/approve"
    first = await room.client.post(url, headers=ANA)
    assert first.status_code == 202 and first.json()["outcome"] == "waiting"
    await room.drain()
    assert await ran(real_redis) == 0
    assert "operator:ana-bot approved" in room.thread() and "second approver" in room.thread()
    await room.click("approve", value, user="U0ANA", ts="4.1")
    assert await ran(real_redis) == 1


async def test_a_step_rejected_through_the_api_never_runs_and_slack_shows_it(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """Rejected through the API: the thread says so, the message loses its Approve button, and
    an Approve click from an older render is refused; nothing runs."""
    room = await make_room(real_redis, tokens=TOKENS)
    await room.alert(ERRORS)
    await room.drain()
    value = room.step_value()
    assert value in buttons(room)
    url = f"/api/incidents/1/steps/{value.partition('|')[2]}/reject"
    rejected = await room.client.post(url, headers=ANA)
    assert rejected.status_code == 200 and rejected.json()["outcome"] == "rejected"
    await room.drain()
    assert "operator:ana-bot rejected" in room.thread()
    assert value not in buttons(room)  # the message was updated: no Approve for it
    await room.click("approve", value, user="U0ANA", ts="5.1")
    assert await ran(real_redis) == 0
    assert "already used" in room.stub.ephemeral[-1]["text"]


async def test_after_a_reopening_the_earlier_proposal_is_refused_and_the_new_one_runs(
    make_room: MakeRoom, real_redis: ArqRedis
) -> None:
    """Flapping: the listing marks which proposal is current; approving the earlier opening's
    step is a 409 and runs nothing, approving the new one runs it."""
    room = await make_room(real_redis, tokens=TOKENS)
    await room.alert(ERRORS)
    await room.drain()
    await room.alert(resolved_body(ERRORS))
    await room.drain()
    await room.alert(ERRORS)  # fires again within the flapping window: reopened
    await room.drain()
    steps = await proposed(room)
    earlier = [s["step"] for s in steps if not s["current"]]
    current = [s["step"] for s in steps if s["current"]]
    assert len(earlier) == len(current) == 2  # two approve steps, proposed for each opening
    assert room.step_value().partition("|")[2] in current  # Slack's buttons too
    old, new = earlier[0], current[0]
    stale = await room.client.post(f"/api/incidents/1/steps/{old}/approve", headers=ANA)
    assert stale.status_code == 409 and "before the incident reopened" in stale.json()["error"]
    await room.drain()
    assert await ran(real_redis) == 0
    fresh = await room.client.post(f"/api/incidents/1/steps/{new}/approve", headers=ANA)
    assert fresh.status_code == 202, fresh.text
    await room.drain()
    assert await ran(real_redis) == 1


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_plantao_steps_and_approve_from_the_command_line(
    make_room: MakeRoom,
    real_redis: ArqRedis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`plantao steps ID` lists the keys; `plantao approve ID STEP --by` runs the step once
    (through the worker), audited as the CLI; a second approval exits 1 with the reason."""
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    room = await make_room(real_redis)
    await room.alert(ERRORS)
    await room.drain()
    code, out, _ = await cli(capsys, "steps", "1")
    assert code == 0 and '"state": "pending"' in out
    key = room.step_value().partition("|")[2]
    assert f'"step": "{key}"' in out
    code, out, _ = await cli(capsys, "approve", "1", key, "--by", "ana")
    assert code == 0 and '"outcome": "approved"' in out
    await room.drain()
    assert await ran(real_redis) == 1
    assert "approved by ana" in room.thread()
    code, _, err = await cli(capsys, "approve", "1", key, "--by", "bia")
    assert code == 1 and "already used" in err
    await room.drain()
    assert await ran(real_redis) == 1
    audited = [(r.who, r.role, r.action, r.outcome[:5]) for r in await read(real_redis)]
    assert audited[:2] == [("bia", "cli", "approve", "error"), ("ana", "cli", "approve", "ok")]
