"""Operator commands: list, show, ack, resolve, silence and unsilence from the command line."""

from __future__ import annotations

import asyncio
import json

import pytest
from arq.connections import ArqRedis

from core.config import PlantaoConfig
from core.models import Alert, Source
from core.silences import Silences
from core.store import Store
from tests.conftest import REDIS_TEST_URL
from webhook.intake import Intake
from worker.main import main


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
    )
    store = Store(real_redis)
    result = await store.ingest(await Intake(PlantaoConfig(), Silences(real_redis)).admit([alert]))
    return result.incidents[0]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_incidents_and_incident_show_the_stored_state(
    incident: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plantao incidents` lists JSON lines; `plantao incident ID` adds the timeline."""
    code, out, _ = await asyncio_run(capsys, "incidents")
    assert code == 0 and json.loads(out.splitlines()[0])["scenario"] == "error_rate_spike"
    code, out, _ = await asyncio_run(capsys, "incident", incident)
    assert code == 0 and "incident.opened" in out


async def test_ack_then_resolve_then_a_refused_ack(
    incident: str, capsys: pytest.CaptureFixture[str], real_redis: ArqRedis
) -> None:
    """ack and resolve record who; an invalid transition exits 1 with the reason."""
    code, out, _ = await asyncio_run(capsys, "ack", incident, "--by", "ana")
    assert code == 0 and json.loads(out)["acknowledged_by"] == "ana"
    code, out, _ = await asyncio_run(capsys, "resolve", incident, "--by", "ana")
    assert code == 0 and json.loads(out)["state"] == "resolved"
    code, _, err = await asyncio_run(capsys, "ack", incident, "--by", "bia")
    assert code == 1 and "cannot go from resolved" in err


async def test_silence_list_and_unsilence(
    incident: str, capsys: pytest.CaptureFixture[str], real_redis: ArqRedis
) -> None:
    """A silence made on the command line is listed, then expired."""
    code, out, _ = await asyncio_run(
        capsys, "silence", "--match", "service=api", "--by", "ana", "--comment", "deploy"
    )
    silence_id = json.loads(out)["id"]
    assert code == 0
    assert [s.id for s in await Silences(real_redis).active()] == [silence_id]
    code, _, _ = await asyncio_run(capsys, "unsilence", silence_id)
    assert code == 0 and await Silences(real_redis).active() == []
    code, _, err = await asyncio_run(
        capsys, "silence", "--match", "nope", "--by", "a", "--comment", "c"
    )
    assert code == 1 and "field=value" in err


async def asyncio_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """main() runs its own event loop: call it from a worker thread of this test's loop."""
    return await asyncio.to_thread(run, capsys, *argv)
