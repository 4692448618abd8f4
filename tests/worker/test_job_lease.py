"""A job whose worker is SIGKILLed runs again within WORKER_JOB_LEASE_S, not after ARQ's
in-progress key of job timeout + 10 s (160 s by default): the live worker renews the key."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis

from core.queue import connect
from core.settings import Settings
from tests.conftest import MakeClient
from tests.support.processes import ManagedProcess, run_plantao
from tests.support.redis_server import RedisServer

LEASE_S = 3.0
BODY = json.dumps(
    {
        "version": "4",
        "groupKey": '{}:{alertname="ServiceDown"}',
        "status": "firing",
        "receiver": "plantao",
        "groupLabels": {"alertname": "ServiceDown"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ServiceDown", "service": "hang", "severity": "critical"},
                "annotations": {"summary": "hang is down"},
                "startsAt": "2026-11-25T04:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "0123456789abcdef",
            }
        ],
    }
).encode()


@pytest.fixture
def hole() -> Iterator[int]:
    """A port that accepts connections and never answers: the handler's probe hangs there."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield int(sock.getsockname()[1])
    sock.close()


def _worker(redis_url: str, config: Path) -> ManagedProcess:
    return run_plantao(
        {
            "RUN_MODE": "worker",
            "REDIS_URL": redis_url,
            "PLANTAO_CONFIG": str(config),
            "WORKER_JOB_LEASE_S": str(LEASE_S),
            "JOB_TIMEOUT_S": "120",
            "PROBE_TIMEOUT_S": "60",
            "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/slack",
        }
    )


def _wait(what: Callable[[], bool], within_s: float, process: ManagedProcess) -> float:
    t0 = time.monotonic()
    while not what():
        assert process.returncode is None, process.output()
        assert time.monotonic() - t0 < within_s, process.output()
        time.sleep(0.1)
    return time.monotonic() - t0


@pytest.mark.timeout(60)
async def test_a_killed_workers_job_runs_again_within_the_lease(
    make_client: MakeClient,
    make_settings: Callable[..., Settings],
    private_redis: RedisServer,
    hole: int,
    tmp_path: Path,
) -> None:
    config = tmp_path / "plantao.toml"
    config.write_text(f'[services.hang]\nurl = "http://127.0.0.1:{hole}"\n')
    redis = connect(private_redis.url)
    client = await make_client(make_settings(redis_url=private_redis.url), redis)
    answer = await client.post("/webhooks/alertmanager", content=BODY)
    assert answer.status_code == 202, answer.text
    [incident] = answer.json()["incidents"]
    job = f"incident:{incident}:open"
    in_progress, tries = f"arq:in-progress:{job}", f"arq:retry:{job}"
    sync = SyncRedis(port=private_redis.port)

    first = _worker(private_redis.url, config)
    second: ManagedProcess | None = None
    try:
        _wait(lambda: bool(sync.exists(in_progress)), 20, first)
        assert 0 < sync.pttl(in_progress) <= LEASE_S * 1000  # not ARQ's 130 s
        time.sleep(LEASE_S * 1.5)  # longer than the lease: the running worker renewed it
        assert sync.exists(in_progress) and int(sync.get(tries)) == 1
        first.kill()
        second = _worker(private_redis.url, config)
        rerun_in = _wait(lambda: int(sync.get(tries) or 0) == 2, 20, second)
        assert rerun_in < LEASE_S + 10  # the lease, the new worker's start-up and a poll
    finally:
        first.kill()
        if second is not None:
            second.stop()
        await redis.aclose()
