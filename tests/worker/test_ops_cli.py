"""Operator commands for jobs, replays, dead letters and switches, against the real Redis."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from arq.connections import ArqRedis

from core.audit import read
from core.config import PlantaoConfig
from core.models import Alert, Source
from core.queue import QUEUE_NAME
from core.silences import Silences
from core.store import Store
from core.switches import PAUSE, Switches
from core.tokens import token_hash
from tests.conftest import REDIS_TEST_URL
from webhook.intake import Intake
from worker import outbox_refused
from worker.guards import Guards
from worker.main import main
from worker.outbox import Kind, Outbox


@pytest.fixture
async def incident(real_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    alert = Alert(
        source=Source.ALERTMANAGER,
        fingerprint="am:1",
        name="HighErrorRate",
        service="api",
        firing=True,
        summary="5xx",
        labels={"alertname": "HighErrorRate"},
    )
    store = Store(real_redis)
    result = await store.ingest(await Intake(PlantaoConfig(), Silences(real_redis)).admit([alert]))
    return result.incidents[0]


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_pause_with_a_reason_is_what_the_worker_obeys(
    incident: str, capsys: pytest.CaptureFixture[str], real_redis: ArqRedis
) -> None:
    """`plantao pause --reason` pauses the executor's guard, `resume` ends it; both audited."""
    code, out, _ = await cli(capsys, "pause", "--reason", "db migration", "--by", "ana")
    assert code == 0 and '"reason": "db migration"' in out
    paused = await Guards(real_redis).state()
    assert paused is not None and (paused.reason, paused.by) == ("db migration", "ana")
    code, out, _ = await cli(capsys, "resume", "--by", "bia", "--reason", "done")
    assert code == 0 and await Guards(real_redis).state() is None
    history = await Switches(real_redis).history()
    assert [(c.switch, c.on, c.by, c.reason) for c in history] == [
        (PAUSE, False, "bia", "done"),
        (PAUSE, True, "ana", "db migration"),
    ]
    records = await read(real_redis)
    assert [(r.who, r.role, r.action, r.outcome) for r in records] == [
        ("bia", "cli", "resume", "ok"),
        ("ana", "cli", "pause", "ok"),
    ]


async def test_freeze_unfreeze_and_switches_show_every_switch(
    incident: str, capsys: pytest.CaptureFixture[str], real_redis: ArqRedis
) -> None:
    """`switches` shows the pause, the freeze and DRY_RUN; freeze/unfreeze flip the freeze."""
    assert (await cli(capsys, "freeze", "--reason", "release", "--by", "ana"))[0] == 0
    code, out, _ = await cli(capsys, "switches")
    rows = {r["switch"]: r for r in map(json.loads, out.splitlines())}
    assert code == 0 and rows["freeze"]["on"] and rows["freeze"]["reason"] == "release"
    assert not rows["pause"]["on"] and rows["dry_run"]["on"] is True
    assert (await cli(capsys, "unfreeze", "--by", "ana"))[0] == 0
    assert await Guards(real_redis).frozen() is None


async def test_dead_letters_listed_shown_and_redriven_from_the_cli(
    incident: str, capsys: pytest.CaptureFixture[str], real_redis: ArqRedis
) -> None:
    """`deadletters` lists and shows; `redrive --all` queues each again once."""
    await Store(real_redis).dead_letter("incident:1:open", "handle_incident", [incident], 3, "boom")
    code, out, _ = await cli(capsys, "deadletters")
    assert code == 0 and json.loads(out)["error"] == "boom"
    code, out, _ = await cli(capsys, "jobs", "incident:1:open")
    assert code == 0 and json.loads(out)["dead_letter"]["function"] == "handle_incident"
    code, out, _ = await cli(capsys, "redrive", "--all", "--by", "ana")
    new_id = json.loads(out)["job_id"]
    assert code == 0 and new_id.startswith("redrive:incident:1:open:")
    assert new_id.encode() in await real_redis.zrange(QUEUE_NAME, 0, -1)
    code, _, err = await cli(capsys, "redrive", "incident:1:open", "--by", "ana")
    assert code == 1 and "re-driven already" in err
    assert (await read(real_redis))[0].outcome.startswith("error: InvalidTransition")


async def test_replay_plan_previews_in_process_and_replay_queues(
    incident: str, capsys: pytest.CaptureFixture[str], real_redis: ArqRedis
) -> None:
    """`replay --plan` prints the preview without running anything; `replay` queues a job."""
    code, out, _ = await cli(capsys, "replay", "incident:1:open", "--plan", "--by", "ana")
    assert code == 0
    preview = json.loads(out.splitlines()[0])
    assert preview["now"]["scenario"] == "error_rate_spike" and preview["planned"]
    events = [e.event for e in await Store(real_redis).timeline(incident)]
    assert "replay.previewed" in events and "diagnosed" not in events
    code, out, _ = await cli(capsys, "replay", "incident:1:open", "--by", "ana")
    assert code == 0 and json.loads(out)["job_id"].startswith("replay:incident:1:open:")
    code, _, err = await cli(capsys, "replay", "incident:99:open", "--by", "ana")
    assert code == 1 and "incident:99:open" in err


def test_token_hash_reads_the_token_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plantao token-hash` prints the sha256 to put in [[tokens]], without needing Redis."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-token\n"))
    assert main(["token-hash"]) == 0
    assert capsys.readouterr().out.strip() == token_hash("s3cret-token")


async def test_outbox_lists_refused_messages_and_retry_queues_them_audited(
    real_redis: ArqRedis, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plantao outbox` shows what Slack refused and why; `outbox retry` needs ids or --all
    and queues them again, audited."""
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    outbox = Outbox(real_redis, "C0TEST")
    item = await outbox.enqueue(Kind.POST, "P0 api down", [], incident="7")
    await outbox_refused.keep(real_redis, [item], "channel_not_found")
    code, out, _ = await cli(capsys, "outbox")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[0] == {"queued": 0, "refused": 1}
    assert (lines[1]["id"], lines[1]["error"]) == (item, "channel_not_found")
    code, _, err = await cli(capsys, "outbox", "retry", "--by", "ana")
    assert code == 1 and "or --all" in err and await outbox.queued() == 0
    code, out, _ = await cli(capsys, "outbox", "retry", "999", "--by", "ana")
    assert code == 0 and json.loads(out) == {"queued_again": 0}  # not a refused message
    code, out, _ = await cli(capsys, "outbox", "retry", "--all", "--by", "ana")
    assert code == 0 and json.loads(out) == {"queued_again": 1}
    assert await outbox.queued() == 1
    records = [r for r in await read(real_redis) if r.action == "outbox"]  # newest first
    assert [(r.who, r.target, r.outcome[:5]) for r in records] == [
        ("ana", "all refused", "ok"),
        ("ana", "999", "ok"),
        ("ana", "", "error"),
    ]
