"""Worker throughput when diagnosis waits on the network: every probe takes 50 ms.

    bench/run worker            # 1,000 incidents, 3 runs, WORKER_MAX_JOBS 20 (shipped) and 100
    bench/run worker --quick    # 300 incidents, 1 run

PLANTAO_CONFIG lists every service at a local asyncio HTTP server that answers each request
after 50 ms. The api queues N api_down incidents (ServiceDown alerts: the handler probes
/health and /health/ready concurrently), then one `plantao serve` RUN_MODE=worker process
(WORKER_POLL_DELAY_S 0.05 as shipped) drains them, posting each to a Slack stub. Throughput is
N / (last job finished - first job started), from ARQ's kept results. In the same run, on the
same Redis (AOF, appendfsync always), with the same poll delay and max_jobs: ARQ's own rate
for a worker whose single function does nothing (bench/noop_worker.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    BodyMaker,
    Cleanup,
    CpuMeter,
    HttpClient,
    RedisServer,
    StubServer,
    arq_results,
    await_quiet,
    body_template,
    environment,
    fmt_spread,
    install_signal_handlers,
    new_nonce,
    noise_note,
    run_uvloop,
    spawn_worker,
    spread,
    start_api,
    table,
    wait_until,
    worker_ready,
    write_results,
)
from core.queue import connect
from tests.support.processes import ManagedProcess, spawn

PATH = "/webhooks/alertmanager"
PROBES_PER_INCIDENT = 2  # handlers/api_down.py: /health and /health/ready, concurrently


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run worker", description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=1000, help="queued before the worker starts")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--probe-ms", type=float, default=50.0, help="each probe's answer time")
    p.add_argument("--poll-delay", type=float, default=0.05, help="WORKER_POLL_DELAY_S")
    p.add_argument("--max-jobs", default="20,100", help="WORKER_MAX_JOBS values (shipped: 20)")
    p.add_argument("--quiet-wait", type=float, default=10.0, help="max wait for an idle machine")
    p.add_argument("--quick", action="store_true", help="smoke profile: 300 incidents, 1 run")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (logs) at the end")
    args = p.parse_args(argv)
    if args.quick:
        args.incidents, args.runs = 300, 1
    if not (1 <= args.incidents <= 20_000 and 1 <= args.runs <= 20):
        p.error("--incidents within 1..20000, --runs within 1..20")
    return args


def write_config(path: Path, services: list[str], url: str) -> None:
    lines = [f'[services."{s}"]\nurl = "{url}"\n' for s in services]
    path.write_text("\n".join(lines))


def rate_of(results: list[dict[str, Any]], function: str) -> dict[str, Any]:
    done = [r for r in results if r.get("f") == function]
    if not done:
        return {"jobs": 0, "per_s": 0.0}
    span_ms = max(r["ft"] for r in done) - min(r["st"] for r in done)
    run_ms = sorted(r["ft"] - r["st"] for r in done)
    return {
        "jobs": len(done),
        "succeeded": sum(1 for r in done if r.get("s")),
        "span_s": span_ms / 1000,
        "per_s": round(len(done) / max(span_ms / 1000, 1e-3), 1),
        "job_ms_p50": run_ms[len(run_ms) // 2],
    }


async def prefill(api_port: int, bodies: list[bytes]) -> None:
    client = HttpClient(api_port, max_conns=16)
    queue = iter(bodies)

    async def sender() -> None:
        for body in queue:
            status, raw = await asyncio.wait_for(client.post(PATH, body), 10)
            if status != 202:
                raise RuntimeError(f"api answered {status}: {raw[:200]!r}")

    try:
        await asyncio.gather(*(sender() for _ in range(16)))
    finally:
        await client.close()


async def drain(
    server: RedisServer, proc: ManagedProcess, done: Any, timeout_s: float
) -> dict[str, float]:
    meter = CpuMeter({"worker": proc.process.pid, "redis": server.pid})
    if not await wait_until(done, timeout_s, 0.01):
        raise RuntimeError(f"queue not drained in {timeout_s} s:\n{proc.output()[-3000:]}")
    return meter.stop()


async def plantao_run(
    cleanup: Cleanup,
    server: RedisServer,
    api_port: int,
    bodies: list[bytes],
    config: Path,
    slack: StubServer,
    probe: StubServer,
    max_jobs: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    server.flush()
    await prefill(api_port, bodies)
    queued = int(server.zcard("arq:queue"))
    quiet = await await_quiet(args.quiet_wait)
    slack.received.clear()
    probe.received.clear()
    worker = spawn_worker(
        cleanup,
        server,
        f"worker-{max_jobs}",
        PLANTAO_CONFIG=str(config),
        SLACK_WEBHOOK_URL=f"{slack.url}/services/T0/B0/bench",
        WORKER_POLL_DELAY_S=str(args.poll_delay),
        WORKER_MAX_JOBS=str(max_jobs),
    )
    try:
        await worker_ready(server, worker)
        cpu = await drain(server, worker, lambda: len(slack.received) >= queued, 120.0)
    finally:
        worker.stop(5.0)
    out = rate_of(arq_results(server), "handle_incident")
    out.update(queued=queued, posts=len(slack.received), probes=len(probe.received))
    out.update(cpu_pct=cpu, quiet_before=quiet)
    return out


async def noop_run(
    cleanup: Cleanup, server: RedisServer, n: int, max_jobs: int, args: argparse.Namespace
) -> dict[str, Any]:
    server.flush()
    redis = connect(server.url)
    try:
        for start in range(0, n, 200):
            jobs = range(start, min(n, start + 200))
            await asyncio.gather(
                *(redis.enqueue_job("noop", str(i), _job_id=f"n{i}") for i in jobs)
            )
    finally:
        await redis.aclose()
    quiet = await await_quiet(args.quiet_wait)
    env = {"REDIS_URL": server.url, "POLL_DELAY_S": str(args.poll_delay), "MAX_JOBS": str(max_jobs)}
    argv = [sys.executable, "-m", "bench.noop_worker"]
    proc = cleanup.process(spawn(argv, env, cwd=REPO, logdir=cleanup.tmp / f"noop-{max_jobs}"))
    try:
        cpu = await drain(server, proc, lambda: server.zcard("arq:queue") == 0, 60.0)
    finally:
        proc.stop(5.0)
    out = rate_of(arq_results(server), "noop")
    out.update(cpu_pct=cpu, quiet_before=quiet)
    return out


async def measure(args: argparse.Namespace, cleanup: Cleanup) -> dict[str, Any]:
    server = RedisServer(cleanup)
    api = start_api(cleanup, server.url)
    probe = await StubServer(delay_s=args.probe_ms / 1000, answer=b'{"status":"ok"}').start()
    slack = await StubServer().start()
    maker = BodyMaker(body_template(1, alertname="ServiceDown"), new_nonce())
    services, bodies = [], []
    for _ in range(args.incidents):
        service, body = maker.next()
        services.append(service)
        bodies.append(body)
    config = cleanup.tmp / "plantao.toml"
    write_config(config, services, probe.url)
    variants: dict[str, Any] = {}
    try:
        for max_jobs in [int(m) for m in args.max_jobs.split(",")]:
            plantao, noop = [], []
            for i in range(args.runs):
                started = time.monotonic()
                p = await plantao_run(
                    cleanup, server, api.port, bodies, config, slack, probe, max_jobs, args
                )
                n = await noop_run(cleanup, server, args.incidents, max_jobs, args)
                print(
                    f"  max_jobs {max_jobs} run {i + 1}: plantão {p['per_s']:,.0f} incidents/s "
                    f"({p['posts']} posts, {p['probes']} probes, worker CPU "
                    f"{p['cpu_pct']['worker']}%), ARQ no-op {n['per_s']:,.0f} jobs/s "
                    f"({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
                plantao.append(p)
                noop.append(n)
            variants[str(max_jobs)] = {
                "plantao_per_s": spread([r["per_s"] for r in plantao]),
                "noop_per_s": spread([r["per_s"] for r in noop]),
                "ratio_by_run": spread(
                    [p["per_s"] / n["per_s"] for p, n in zip(plantao, noop, strict=True)]
                ),
                "bound_per_s": round(max_jobs / (args.probe_ms / 1000), 1),
                "plantao_runs": plantao,
                "noop_runs": noop,
            }
    finally:
        await probe.close()
        await slack.close()
    return {"variants": variants, "environment": environment(server)}


def build_report(args: argparse.Namespace, m: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for max_jobs, v in m["variants"].items():
        cpu = spread([r["cpu_pct"]["worker"] for r in v["plantao_runs"]])
        other = spread([r["cpu_pct"]["other"] for r in v["plantao_runs"]])
        job = spread([r["job_ms_p50"] for r in v["plantao_runs"]])
        rows.append(
            [
                max_jobs + (" (shipped)" if max_jobs == "20" else ""),
                fmt_spread(v["plantao_per_s"]),
                f"{v['bound_per_s']:,.0f}",
                f"{job['median']:.0f}",
                f"{cpu['median']:.0f}%",
                fmt_spread(v["noop_per_s"]),
                f"{v['ratio_by_run']['median']:.2f}",
                f"{other['median']:.0f}%",
            ]
        )
    headers = [
        "WORKER_MAX_JOBS",
        "plantão incidents/s per process, median (min–max)",
        "max_jobs / probe time",
        "job p50 ms",
        "worker CPU",
        "ARQ no-op jobs/s (same poll, max_jobs)",
        "plantão / no-op",
        "other CPU",
    ]
    others = [
        r["cpu_pct"]["other"]
        for v in m["variants"].values()
        for r in v["plantao_runs"] + v["noop_runs"]
    ]
    notes = {"noise": note} if (note := noise_note(others)) else {}
    return {
        "benchmark": "worker",
        "settings": vars(args),
        "results": m["variants"],
        "targets": notes,
        "environment": m["environment"],
        "table": table(headers, rows),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    with Cleanup("worker", keep=args.keep) as cleanup:
        measured = run_uvloop(measure(args, cleanup))
    report = build_report(args, measured)
    path = write_results("worker", report)
    print()
    print(report["table"])
    for line in report["targets"].values():
        print(f"\n{line}")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
