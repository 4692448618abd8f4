"""What the benchmarks share: their own durable Redis, plantão processes, Alertmanager bodies,
a small keep-alive HTTP/1.1 client and stub server on asyncio, statistics and the results file.

Everything listens on 127.0.0.1 only; every wait has a deadline; every process started here
runs in its own process group and is killed (group and all) when the benchmark ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType
from typing import Any, cast

import redis

from tests.support.processes import ManagedProcess, free_port, run_plantao, spawn, wait_http_ok

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
TOKEN = "bench-alertmanager-token"
MARK = "@@P@@"  # replaced by a per-delivery hex prefix: distinct fingerprints and service
PREFIX_HEX = 14  # nonce (4) + driver (2) + counter (8); + 2 for the alert's index = 16 like AM
START_TIMEOUT_S = 20.0
QUIET_PCT = 25.0  # "quiet machine": all processes together below this % of one core


# ---------------------------------------------------------------------------------------------
# Clean exits: SIGTERM/SIGINT unwind through `finally`, which stops every process we started.


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGINT, _raise_exit)


class Cleanup(contextlib.ExitStack):
    """An ExitStack with a scratch directory (removed at the end unless `keep`)."""

    def __init__(self, name: str, keep: bool = False) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"plantao-bench-{name}-"))
        if not keep:
            self.callback(shutil.rmtree, self.tmp, True)

    def process(self, proc: ManagedProcess) -> ManagedProcess:
        self.callback(proc.stop, 3.0)
        return proc


# ---------------------------------------------------------------------------------------------
# Redis: a private redis-server with the production durability settings.


class RedisServer:
    """redis-server on a free loopback port, AOF on with `appendfsync always` (as deployed)."""

    def __init__(self, cleanup: Cleanup, appendfsync: str = "always") -> None:
        self.port = free_port()
        self.appendfsync = appendfsync
        workdir = cleanup.tmp / "redis"
        workdir.mkdir()
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            appendfsync,
            "--latency-monitor-threshold",
            "1",
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
        ]
        self.process = cleanup.process(spawn(argv, {}, logdir=cleanup.tmp / "redis-logs"))
        self.client = redis.Redis(port=self.port, socket_timeout=10)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self.client.ping()
                break
            except redis.RedisError as exc:
                if time.monotonic() > deadline or self.process.returncode is not None:
                    output = self.process.output()
                    raise RuntimeError(f"redis-server did not start:\n{output}") from exc
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.process.pid

    # typed wrappers: redis-py's sync client is annotated as possibly returning awaitables
    def zcard(self, key: str) -> int:
        return int(cast(Any, self.client.zcard(key)))

    def llen(self, key: str) -> int:
        return int(cast(Any, self.client.llen(key)))

    def hlen(self, key: str) -> int:
        return int(cast(Any, self.client.hlen(key)))

    def dbsize(self) -> int:
        return int(cast(Any, self.client.dbsize()))

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def scan_keys(self, pattern: str = "*") -> list[bytes]:
        return list(self.client.scan_iter(match=pattern, count=1000))

    def mget(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return list(cast(Any, self.client.mget(keys)))

    def memory_usage(self, key: bytes) -> int:
        return int(cast(Any, self.client.memory_usage(key)) or 0)

    def flush(self) -> None:
        self.client.flushall()
        self.client.config_resetstat()

    def info(self, section: str) -> dict[str, Any]:
        return dict(cast(Mapping[str, Any], self.client.info(section)))

    def command_calls(self) -> dict[str, int]:
        """Calls so far per command (INFO commandstats), e.g. {"evalsha": 120, ...}."""
        return {
            k.removeprefix("cmdstat_"): int(v["calls"])
            for k, v in self.info("commandstats").items()
        }

    def command_usec(self) -> dict[str, tuple[int, float]]:
        """(calls, usec per call) per command since the last reset."""
        return {
            k.removeprefix("cmdstat_"): (int(v["calls"]), float(v["usec_per_call"]))
            for k, v in self.info("commandstats").items()
        }

    def version(self) -> str:
        return str(self.info("server")["redis_version"])


async def idle_cost(
    server: RedisServer, window_s: float, pids: Mapping[str, int]
) -> dict[str, Any]:
    """Commands/s Redis serves, and CPU the processes use, while no alert arrives."""
    before = server.command_calls()
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    await asyncio.sleep(window_s)
    used = {name: (cpu_seconds(pid) - cpu[name]) / window_s * 100 for name, pid in pids.items()}
    after = server.command_calls()
    ops = int(server.info("stats")["instantaneous_ops_per_sec"])
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    delta["info"] = max(0, delta.get("info", 0) - 1)  # our own INFO commandstats
    per_s = {k: round(v / window_s, 1) for k, v in sorted(delta.items()) if v > 0}
    return {
        "window_s": window_s,
        "commands_per_s": round(sum(delta.values()) / window_s, 1),
        "by_command_per_s": per_s,
        "instantaneous_ops_per_sec": ops,
        "cpu_pct": {name: round(v, 1) for name, v in used.items()},
    }


# ---------------------------------------------------------------------------------------------
# plantão processes


def plantao_env(redis_url: str, role: str, **extra: str) -> dict[str, str]:
    """The environment of a `plantao serve` process as deployed (APP_ENV=production: JSON logs)."""
    return {
        "RUN_MODE": role,
        "REDIS_URL": redis_url,
        "APP_ENV": "production",
        "ALERTMANAGER_TOKEN": TOKEN,
        **extra,
    }


def start_api(cleanup: Cleanup, redis_url: str, name: str = "api", **extra: str) -> Api:
    port = free_port()
    env = plantao_env(redis_url, "api", HOST="127.0.0.1", PORT=str(port), **extra)
    proc = cleanup.process(run_plantao(env, logdir=cleanup.tmp / name))
    wait_http_ok(f"http://127.0.0.1:{port}/health/ready", START_TIMEOUT_S, proc)
    return Api(port, proc)


def start_api_variant(cleanup: Cleanup, redis_url: str, name: str, *flags: str) -> Api:
    """plantão's api through bench/api_variants.py (diagnosis: the suggested fixes applied)."""
    port = free_port()
    env = plantao_env(redis_url, "api", HOST="127.0.0.1", PORT=str(port))
    argv = [sys.executable, "-m", "bench.api_variants", *flags]
    proc = cleanup.process(spawn(argv, env, cwd=REPO, logdir=cleanup.tmp / name))
    wait_http_ok(f"http://127.0.0.1:{port}/health/ready", START_TIMEOUT_S, proc)
    return Api(port, proc)


def start_baseline(cleanup: Cleanup, redis_url: str) -> Api:
    port = free_port()
    env = {"REDIS_URL": redis_url, "HOST": "127.0.0.1", "PORT": str(port)}
    argv = [sys.executable, "-m", "bench.baseline_app"]
    proc = cleanup.process(spawn(argv, env, cwd=REPO, logdir=cleanup.tmp / "baseline"))
    wait_http_ok(f"http://127.0.0.1:{port}/health", START_TIMEOUT_S, proc)
    return Api(port, proc)


def spawn_worker(
    cleanup: Cleanup, server: RedisServer, name: str = "worker", first: bool = True, **extra: str
) -> ManagedProcess:
    """A `RUN_MODE=worker` process; `await worker_ready(...)` tells when its start-up is done.
    `first` forgets earlier workers' heartbeats (pass False for the 2nd, 3rd... of a group)."""
    if first:
        server.delete("plantao:heartbeat:worker")
    env = plantao_env(server.url, "worker", **extra)
    return cleanup.process(run_plantao(env, logdir=cleanup.tmp / name))


async def worker_ready(server: RedisServer, *procs: ManagedProcess) -> None:
    """Wait (without blocking the loop: stubs may be serving) for every worker's first beat."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while server.hlen("plantao:heartbeat:worker") < len(procs):
        for proc in procs:
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{proc.output()}")
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Api:
    port: int
    proc: ManagedProcess

    @property
    def pid(self) -> int:
        return self.proc.process.pid


# ---------------------------------------------------------------------------------------------
# /proc readings


def proc_status_kb(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status: VmRSS (now) or VmHWM (peak resident set)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores; /proc/stat user..steal)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used during a phase, in % of one core: by each named process, by this process
    (the driver), by children reaped meanwhile (wrk), and by everything else on the machine
    ("other": other people's work on a shared host shows up here)."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._pids = dict(pids)
        self._start = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        self._driver = time.process_time()
        self._children = _children_cpu()
        self._system = system_busy_seconds()
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self._pids.items()}
        used["driver"] = time.process_time() - self._driver
        children = _children_cpu() - self._children
        if children > 0:
            used["children"] = children  # reaped meanwhile: wrk (or py-spy)
        used["other"] = max(0.0, system_busy_seconds() - self._system - sum(used.values()))
        return {name: round(v / wall * 100, 1) for name, v in used.items()}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait_s: float, threshold_pct: float = QUIET_PCT) -> dict[str, float]:
    """Before a measurement: wait (at most `max_wait_s`) for a 0.5 s window in which the whole
    machine is busy less than `threshold_pct` of one core. Other engineers' test runs share
    these 2 cores; this dodges the worst of them, and the result says what was found."""
    started = time.monotonic()
    while True:
        before = system_busy_seconds()
        time.sleep(0.5)
        busy = (system_busy_seconds() - before) / 0.5 * 100
        waited = time.monotonic() - started
        if busy < threshold_pct or waited >= max_wait_s:
            return {"waited_s": round(waited, 1), "busy_pct": round(busy, 1)}


async def await_quiet(max_wait_s: float, threshold_pct: float = QUIET_PCT) -> dict[str, float]:
    """wait_for_quiet without blocking the event loop (stubs may be serving)."""
    started = time.monotonic()
    while True:
        before = system_busy_seconds()
        await asyncio.sleep(0.5)
        busy = (system_busy_seconds() - before) / 0.5 * 100
        waited = time.monotonic() - started
        if busy < threshold_pct or waited >= max_wait_s:
            return {"waited_s": round(waited, 1), "busy_pct": round(busy, 1)}


# ---------------------------------------------------------------------------------------------
# Alertmanager webhook v4 bodies


def body_template(alerts: int, alertname: str = "HighErrorRate") -> str:
    """A firing delivery of `alerts` alerts of one group (one service), as Alertmanager 0.25
    sends it; MARK stands for a per-delivery prefix, so each delivery is a new incident."""
    expr = (
        "sum%28rate%28http_requests_total%7Bstatus%3D~%225..%22%7D%5B5m%5D%29%29+by+%28instance"
        "%29+%2F+sum%28rate%28http_requests_total%5B5m%5D%29%29+by+%28instance%29+%3E+0.05"
    )
    service = f"svc-{MARK}"
    items = []
    for k in range(alerts):
        instance = f"i-{MARK}{k:02x}:8000"
        items.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": alertname,
                    "env": "production",
                    "instance": instance,
                    "job": "api",
                    "service": service,
                    "severity": "critical",
                },
                "annotations": {
                    "description": "Error ratio is 0.12 for the last 5m.",
                    "runbook_url": "https://runbooks.example/high-error-rate",
                    "summary": f"5xx ratio above 5% on {instance}",
                },
                "startsAt": "2026-11-24T22:11:44.619Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.example:9090/graph?g0.expr={expr}&g0.tab=1",
                "fingerprint": f"{MARK}{k:02x}",
            }
        )
    group = {"alertname": alertname, "service": service}
    body = {
        "receiver": "plantao",
        "status": "firing",
        "alerts": items,
        "groupLabels": group,
        "commonLabels": {**group, "env": "production", "job": "api"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", service="{service}"}}',
        "truncatedAlerts": 0,
    }
    return json.dumps(body, separators=(",", ":"))


def new_nonce() -> int:
    return random.SystemRandom().randrange(0x10000)


class BodyMaker:
    """Distinct deliveries from a template: the Python twin of bench/wrk/alertmanager.lua."""

    def __init__(self, template: str, nonce: int, driver: int = 0xFF) -> None:
        self._parts = template.split(MARK)
        self._head = f"{nonce:04x}{driver:02x}"
        self.count = 0

    def prefix(self, i: int) -> str:
        return f"{self._head}{i:08x}"

    def next(self) -> tuple[str, bytes]:
        """(service, body) of the next delivery."""
        prefix = self.prefix(self.count)
        self.count += 1
        return f"svc-{prefix}", prefix.join(self._parts).encode()


# ---------------------------------------------------------------------------------------------
# A keep-alive HTTP/1.1 client on asyncio: cheap enough that it is never the bottleneck here.


def _post_head(host: str, path: str, length: int, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {length}\r\n\r\n"
    ).encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    line = await reader.readline()
    if not line:
        raise ConnectionResetError("connection closed before a response")
    status = int(line.split()[1])
    length = 0
    while True:
        header = await reader.readline()
        if header in (b"\r\n", b""):
            break
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpClient:
    """POSTs over a pool of at most `max_conns` keep-alive connections to 127.0.0.1:port."""

    def __init__(self, port: int, max_conns: int = 64, token: str | None = TOKEN) -> None:
        self._port = port
        self._host = f"127.0.0.1:{port}"
        self._token = token
        self._sem = asyncio.Semaphore(max_conns)
        self._idle: list[Conn] = []

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        async with self._sem:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._open()
            request = _post_head(self._host, path, len(body), self._token) + body
            try:
                result = await self._roundtrip(conn, request)
            except (ConnectionError, asyncio.IncompleteReadError):
                conn[1].close()
                if not reused:
                    raise
                conn = await self._open()  # the server closed an idle keep-alive connection
                result = await self._roundtrip(conn, request)
            self._idle.append(conn)
            return result

    async def _open(self) -> Conn:
        return await asyncio.open_connection("127.0.0.1", self._port)

    @staticmethod
    async def _roundtrip(conn: Conn, request: bytes) -> tuple[int, bytes]:
        reader, writer = conn
        writer.write(request)
        return await _read_response(reader)

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


@dataclass
class FixedRateResult:
    rate_per_s: float
    sent: int
    ok: int
    errors: dict[str, int]
    latency_ms: list[float]  # from the scheduled send time to the whole answer read
    service_ms: list[float]  # from the actual write to the whole answer read
    max_late_ms: float  # the worst delay of a send behind its schedule (driver health)
    duration_s: float
    sends: dict[str, float] = field(default_factory=dict)  # service -> scheduled send time


async def fixed_rate(
    client: HttpClient,
    path: str,
    bodies: BodyMaker,
    requests_per_s: float,
    duration_s: float,
    expect: int = 202,
) -> FixedRateResult:
    """Open loop: request i is sent at t0 + i/rate whatever the answers are doing (no
    coordinated omission); latency counts from the scheduled time, so a late driver or a
    queue in the server both show up in it."""
    loop = asyncio.get_running_loop()
    total = max(1, int(requests_per_s * duration_s))
    result = FixedRateResult(requests_per_s, 0, 0, {}, [], [], 0.0, 0.0)
    pending: set[asyncio.Task[None]] = set()

    async def one(scheduled: float, body: bytes) -> None:
        started = time.perf_counter()
        try:
            status, _ = await asyncio.wait_for(client.post(path, body), 10.0)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            name = type(exc).__name__
            result.errors[name] = result.errors.get(name, 0) + 1
            return
        done = time.perf_counter()
        if status != expect:
            result.errors[f"HTTP {status}"] = result.errors.get(f"HTTP {status}", 0) + 1
            return
        result.ok += 1
        result.latency_ms.append((done - scheduled) * 1000)
        result.service_ms.append((done - started) * 1000)

    t0_loop = loop.time() + 0.05
    t0_perf = time.perf_counter() + (t0_loop - loop.time())
    for i in range(total):
        due = t0_loop + i / requests_per_s
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        late = (loop.time() - due) * 1000
        result.max_late_ms = max(result.max_late_ms, late)
        service, body = bodies.next()
        scheduled = t0_perf + i / requests_per_s
        result.sends[service] = scheduled
        task = asyncio.create_task(one(scheduled, body))
        pending.add(task)
        task.add_done_callback(pending.discard)
        result.sent += 1
    if pending:
        await asyncio.wait(pending, timeout=15.0)
    result.duration_s = time.perf_counter() - t0_perf
    return result


# ---------------------------------------------------------------------------------------------
# A stub HTTP server on asyncio (Slack's incoming webhook; a service whose health checks are slow)


@dataclass(frozen=True)
class Received:
    at: float  # time.perf_counter() when the whole request was read
    path: str
    body: bytes


class StubServer:
    """Answers every request `status` after `delay_s`, recording it; keep-alive; loopback."""

    def __init__(self, delay_s: float = 0.0, status: int = 200, answer: bytes = b"ok") -> None:
        self.delay_s = delay_s
        self.status = status
        self.answer = answer
        self.received: list[Received] = []
        self.on_request: Callable[[Received], None] | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() it first"
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> StubServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                path = line.split()[1].decode()
                length, close = 0, False
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b""):
                        break
                    name, _, value = header.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                body = await reader.readexactly(length) if length else b""
                got = Received(time.perf_counter(), path, body)
                self.received.append(got)
                if self.on_request is not None:
                    self.on_request(got)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(
                    f"HTTP/1.1 {self.status} OK\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(self.answer)}\r\n\r\n".encode()
                    + self.answer
                )
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # the client went away, or we are closing: nothing to answer
        finally:
            self._writers.discard(writer)
            writer.close()


SLACK_SERVICE = re.compile(r" on (svc-[0-9a-f]+)")


def slack_service(body: bytes) -> str | None:
    """The service named in an incident message's text (`[P1] scenario on svc-...: ...`)."""
    try:
        text = str(json.loads(body).get("text", ""))
    except ValueError:
        return None
    found = SLACK_SERVICE.search(text)
    return found.group(1) if found else None


async def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step_s)
    return True


def arq_results(server: RedisServer, pattern: str = "arq:result:*") -> list[dict[str, Any]]:
    """ARQ's kept results (JSON here): enqueue (et), start (st) and finish (ft) times in ms."""
    keys = server.scan_keys(pattern)
    out: list[dict[str, Any]] = []
    for start in range(0, len(keys), 500):
        for raw in server.mget(keys[start : start + 500]):
            if raw is not None:
                out.append(json.loads(raw))
    return out


# ---------------------------------------------------------------------------------------------
# Statistics


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median with min and max, over runs."""
    data = sorted(values)
    return {"median": pct(data, 50), "min": data[0], "max": data[-1], "n": len(data)}


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 2),
        "p90": round(pct(values, 90), 2),
        "p99": round(pct(values, 99), 2),
        "max": round(max(values), 2) if values else float("nan"),
    }


def fmt_spread(s: Mapping[str, float], digits: int = 0) -> str:
    return f"{s['median']:,.{digits}f} ({s['min']:,.{digits}f}–{s['max']:,.{digits}f})"


# ---------------------------------------------------------------------------------------------
# Machine, versions, the results file, tables


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip()


def environment(server: RedisServer | None = None) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    wrk_version = "absent"
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=5)
        wrk_version = (out.stdout or out.stderr).split("[")[0].strip()
    return {
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": _cpu_model(),
            "ram_gib": _mem_total_gib(),
            "kernel": platform.release(),
        },
        "versions": {
            "python": platform.python_version(),
            "uvicorn": _pkg("uvicorn"),
            "uvloop": _pkg("uvloop"),
            "httptools": _pkg("httptools"),
            "fastapi": _pkg("fastapi"),
            "pydantic": _pkg("pydantic"),
            "redis-py": _pkg("redis"),
            "hiredis": _pkg("hiredis"),
            "arq": _pkg("arq"),
            "httpx": _pkg("httpx"),
            "redis-server": server.version() if server else "unknown",
            "wrk": wrk_version,
        },
        "redis": "own redis-server on a loopback port: appendonly yes, appendfsync always",
        "git": {
            "commit": _git("rev-parse", "--short", "HEAD"),
            "dirty": bool(_git("status", "--porcelain")),
        },
        "command": " ".join(sys.orig_argv),
    }


def write_results(name: str, data: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (what bench/README.md shows)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def noise_note(other_pcts: Sequence[float]) -> str | None:
    """A warning when other processes ran beside a measurement (this is a shared 2-core box)."""
    worst = max(other_pcts, default=0.0)
    if worst <= QUIET_PCT:
        return None
    return (
        f"WARNING: other processes used up to {worst:.0f}% of a core during these runs "
        f"(see 'other CPU'); the numbers are pessimistic: rerun on a quiet machine"
    )


def verdict(met: bool, how: str) -> str:
    return f"{'MET' if met else 'MISSED'} ({how})"


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"… {label}", flush=True)
    yield
    print(f"  {label}: {time.monotonic() - started:.1f} s", flush=True)


def run_uvloop(coro: Any) -> Any:
    """asyncio.run on uvloop (the drivers' loop; the servers use it too)."""
    import uvloop

    return uvloop.run(coro)


def publish(name: str, report: Mapping[str, Any]) -> Path:
    """Write a benchmark's JSON results and print its table and target verdicts."""
    path = write_results(name, report)
    print()
    print(report["table"])
    print()
    for line in report["targets"].values():
        print(line)
    print(f"\nresults: {path}")
    return path
