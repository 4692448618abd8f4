"""The system under test: a private redis-server (AOF, appendfsync always) that can be killed
and restarted on the same port and data, plantão's api and worker as real processes, and a
local Slack (tests/support/slack_stub.py) that can fail and rate-limit."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import redis

from tests.support.processes import ManagedProcess, free_port, run_plantao, spawn, wait_http_ok
from tests.support.senders import AM_TOKEN, RAILWAY_TOKEN, SENTRY_SECRET
from tests.support.slack_stub import TOKEN, SlackStub

START_TIMEOUT_S = 20.0
CHANNEL = "C0CHAOS"


class RedisProc:
    """redis-server on a fixed loopback port and directory: kill -9 and start it again."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.workdir = free_port(), workdir
        self.proc: ManagedProcess | None = None
        self.client = redis.Redis(port=self.port, socket_timeout=5)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)]
        self.proc = spawn(argv, {}, logdir=self.workdir / "logs")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self.client.ping()
                return
            except redis.RedisError as exc:
                if time.monotonic() > deadline:
                    output = self.proc.output()
                    raise RuntimeError(f"redis-server did not start:\n{output}") from exc
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def get(self, method: str, *args: Any) -> Any:
        return cast(Any, getattr(self.client, method)(*args))


class Stack:
    """Everything one profile runs; `close()` stops all of it (call it in `finally`)."""

    def __init__(self, keep: bool = False) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="plantao-chaos-"))
        self.keep = keep
        (self.tmp / "redis").mkdir()
        self.redis = RedisProc(self.tmp / "redis")
        self.slack = SlackStub().start()
        self.api_port = free_port()
        self.api: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []
        self.extra_env: dict[str, str] = {}
        self.worker_module = "worker.main"  # chaos.failing_worker in the poison profile
        self._n = 0

    def env(self, role: str) -> dict[str, str]:
        return {
            **self.extra_env,
            "RUN_MODE": role,
            "REDIS_URL": self.redis.url,
            "APP_ENV": "production",
            "ALERTMANAGER_TOKEN": AM_TOKEN,
            "SENTRY_CLIENT_SECRET": SENTRY_SECRET,
            "RAILWAY_WEBHOOK_TOKEN": RAILWAY_TOKEN,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_CHANNEL": CHANNEL,
            "SLACK_API_URL": self.slack.url,
            "SLACK_MIN_INTERVAL_S": "0.01",
            "SLACK_REQUEST_TIMEOUT_S": "2",
            "HOST": "127.0.0.1",
            "PORT": str(self.api_port),
        }

    def start(self, workers: int = 1) -> None:
        self.redis.start()
        self.start_api()
        for _ in range(workers):
            self.start_worker()

    def start_api(self) -> None:
        self._n += 1
        self.api = run_plantao(self.env("api"), logdir=self.tmp / f"api-{self._n}")
        wait_http_ok(f"http://127.0.0.1:{self.api_port}/health", START_TIMEOUT_S, self.api)

    def start_worker(self) -> ManagedProcess:
        self._n += 1
        argv = [sys.executable, "-m", self.worker_module, "serve"]
        worker = spawn(argv, self.env("worker"), logdir=self.tmp / f"worker-{self._n}")
        self.workers.append(worker)
        return worker

    def kill_worker(self) -> None:
        """SIGKILL the newest worker and start another (a platform restarting a crashed one)."""
        self.workers.pop().kill()
        self.start_worker()

    def kill_api(self) -> None:
        assert self.api is not None
        self.api.kill()
        self.start_api()

    async def restart_redis(self, down_s: float = 1.0) -> None:
        self.redis.kill()
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.redis.start)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def logs(self) -> str:
        procs = [p for p in (self.api, *self.workers) if p is not None]
        return "\n".join(p.output()[-3000:] for p in procs)

    def close(self) -> None:
        for proc in [*self.workers, self.api, self.redis.proc]:
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.stop(3.0)
        self.slack.close()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
