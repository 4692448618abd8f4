"""Time to first Slack post: webhook request -> the incident's first message at a Slack stub.

    bench/run first_post          # 100 alerts/s, 2 runs x 10 s per poll delay: 0.5, 0.05, 0.01
    bench/run first_post --quick  # 1 run x 3 s per poll delay

An api process and a worker process (`plantao serve`, RUN_MODE=api / worker) on this script's
own redis-server (AOF, appendfsync always); SLACK_WEBHOOK_URL points at an asyncio stub in this
process, whose clock also timed the sends (latency counts from each request's scheduled send
time). No PLANTAO_CONFIG services: probes answer at once ("no url"), so what is measured is
plantão's own path: intake, queue, job, Slack post. Every delivery is one alert of a new
service, hence a new incident and exactly one first post. Before the load, the idle worker is
watched for a few seconds: Redis commands/s (INFO commandstats) and CPU, the price of polling.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bench.common import (
    Api,
    BodyMaker,
    Cleanup,
    CpuMeter,
    HttpClient,
    Received,
    RedisServer,
    StubServer,
    arq_results,
    await_quiet,
    body_template,
    environment,
    fixed_rate,
    idle_cost,
    install_signal_handlers,
    latency_summary,
    new_nonce,
    noise_note,
    publish,
    run_uvloop,
    slack_service,
    spawn_worker,
    spread,
    start_api,
    table,
    verdict,
    wait_until,
    worker_ready,
)

PATH = "/webhooks/alertmanager"
P99_TARGET_MS = 100.0
SHIPPED_POLL_DELAY_S = 0.05  # core/settings.py worker_poll_delay_s


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run first_post", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=100.0, help="alerts (= new incidents) per s")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    p.add_argument("--runs", type=int, default=2, help="runs per poll delay (a fresh worker each)")
    p.add_argument("--poll-delays", default="0.5,0.05,0.01", help="WORKER_POLL_DELAY_S values")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of load not counted")
    p.add_argument("--idle", type=float, default=5.0, help="seconds of idle watching")
    p.add_argument("--max-jobs", type=int, default=20, help="WORKER_MAX_JOBS (shipped: 20)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (shipped: 1)")
    p.add_argument("--quiet-wait", type=float, default=10.0, help="max wait for an idle machine")
    p.add_argument("--quick", action="store_true", help="smoke profile: 1 run x 3 s, 2 s idle")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (logs) at the end")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.idle, args.runs = 3.0, 2.0, 1
    if not (0 < args.duration <= 120 and 0 < args.idle <= 60 and 0 < args.rate <= 2000):
        p.error("keep --duration within 120 s, --idle within 60 s and --rate within 2000")
    if not (1 <= args.runs <= 10 and 1 <= args.workers <= 8):
        p.error("--runs within 1..10, --workers within 1..8")
    return args


class FirstPosts:
    """The first Slack message per service (= per incident), and how many came twice."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.duplicates = 0

    def __call__(self, got: Received) -> None:
        service = slack_service(got.body)
        if service is None:
            return
        if service in self.at:
            self.duplicates += 1
        else:
            self.at[service] = got.at


async def one_run(
    cleanup: Cleanup,
    server: RedisServer,
    api: Api,
    poll: float,
    watch_idle: bool,
    args: argparse.Namespace,
) -> dict[str, Any]:
    server.flush()
    slack = await StubServer().start()
    posts = FirstPosts()
    slack.on_request = posts
    workers = [
        spawn_worker(
            cleanup,
            server,
            f"worker-{poll}-{k}",
            first=k == 0,
            SLACK_WEBHOOK_URL=f"{slack.url}/services/T0/B0/bench",
            WORKER_POLL_DELAY_S=str(poll),
            WORKER_MAX_JOBS=str(args.max_jobs),
        )
        for k in range(args.workers)
    ]
    worker_pids = {f"worker{k or ''}": w.process.pid for k, w in enumerate(workers)}
    client = HttpClient(api.port)
    try:
        await worker_ready(server, *workers)
        await wait_until(lambda: False, 1.0)  # let start-up settle
        idle = None
        if watch_idle:
            idle = await idle_cost(server, args.idle, {**worker_pids, "redis": server.pid})
        # warm-up (not counted): first requests pay for lazy imports and new connections
        bodies = BodyMaker(body_template(1), new_nonce())
        warm = await fixed_rate(client, PATH, bodies, args.rate, args.warmup)
        await wait_until(lambda: len(posts.at) >= warm.ok, 30.0)
        posts.at.clear()
        quiet = await await_quiet(args.quiet_wait)
        meter = CpuMeter({**worker_pids, "api": api.pid, "redis": server.pid})
        load_started_ms = time.time_ns() // 1_000_000
        load = await fixed_rate(client, PATH, bodies, args.rate, args.duration)
        drained = await wait_until(lambda: len(posts.at) >= load.ok, 30.0)
        cpu = meter.stop()
        cpu["workers"] = round(sum(cpu[name] for name in worker_pids), 1)
        await wait_until(lambda: False, 0.5)  # a late duplicate would show up here
    finally:
        await client.close()
        for worker in workers:
            worker.stop(5.0)
        await slack.close()
    latencies = [(posts.at[s] - t) * 1000 for s, t in load.sends.items() if s in posts.at]
    jobs = [r for r in arq_results(server) if r.get("f") == "handle_incident"]
    jobs = [r for r in jobs if r["et"] >= load_started_ms]
    return {
        "sent": load.sent,
        "acked": load.ok,
        "ack_errors": load.errors,
        "ack_ms": latency_summary(load.latency_ms),
        "posted": len(latencies),
        "duplicate_posts": posts.duplicates,
        "drained": drained,
        "first_post_ms": latency_summary(latencies),
        "queue_wait_ms": latency_summary([float(r["st"] - r["et"]) for r in jobs]),
        "job_run_ms": latency_summary([float(r["ft"] - r["st"]) for r in jobs]),
        "driver_max_late_ms": round(load.max_late_ms, 2),
        "cpu_pct": cpu,
        "worker_cpu_ms_per_incident": round(
            cpu["workers"] / 100 * load.duration_s * 1000 / max(1, len(latencies)), 2
        ),
        "quiet_before": quiet,
        "idle": idle,
        "_latencies": latencies,  # pooled over runs, then dropped
    }


async def measure(args: argparse.Namespace, cleanup: Cleanup) -> dict[str, Any]:
    server = RedisServer(cleanup)
    api = start_api(cleanup, server.url)
    settings = []
    for poll in [float(p) for p in args.poll_delays.split(",")]:
        runs = []
        for i in range(args.runs):
            started = time.monotonic()
            run = await one_run(cleanup, server, api, poll, i == 0, args)
            fp = run["first_post_ms"]
            print(
                f"  WORKER_POLL_DELAY_S={poll:g} run {i + 1}: first post p50 {fp['p50']} ms "
                f"p99 {fp['p99']} ms ({run['posted']}/{run['sent']} posted), worker CPU "
                f"{run['cpu_pct']['workers']}%, other {run['cpu_pct']['other']}% "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
            runs.append(run)
        pooled = [x for r in runs for x in r.pop("_latencies")]
        settings.append(
            {
                "poll_delay_s": poll,
                "max_jobs": args.max_jobs,
                "workers": args.workers,
                "first_post_ms": latency_summary(pooled),
                "p99_by_run": spread([r["first_post_ms"]["p99"] for r in runs]),
                "sent": sum(r["sent"] for r in runs),
                "posted": sum(r["posted"] for r in runs),
                "duplicate_posts": sum(r["duplicate_posts"] for r in runs),
                "idle": runs[0]["idle"],
                "runs": runs,
            }
        )
    return {"settings": settings, "environment": environment(server)}


def build_report(args: argparse.Namespace, measured: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for s in measured["settings"]:
        fp, idle, by_run = s["first_post_ms"], s["idle"], s["p99_by_run"]
        med = {
            key: spread([r[key]["p50"] for r in s["runs"]])["median"]
            for key in ("queue_wait_ms", "job_run_ms", "ack_ms")
        }
        cpu = spread([r["cpu_pct"]["workers"] for r in s["runs"]])["median"]
        other = spread([r["cpu_pct"]["other"] for r in s["runs"]])
        rows.append(
            [
                f"{s['poll_delay_s']:g}"
                + (" (shipped)" if s["poll_delay_s"] == SHIPPED_POLL_DELAY_S else ""),
                f"{s['posted']}/{s['sent']}",
                fp["p50"],
                fp["p90"],
                fp["p99"],
                f"{by_run['min']:.0f}–{by_run['max']:.0f}",
                fp["max"],
                f"{med['ack_ms']:.1f} / {med['queue_wait_ms']:.0f} / {med['job_run_ms']:.0f}",
                f"{cpu:.0f}%",
                f"{idle['commands_per_s']:g}",
                f"{sum(v for k, v in idle['cpu_pct'].items() if k != 'redis'):g}%",
                f"{other['median']:.0f}% ({other['max']:.0f}%)",
            ]
        )
    headers = [
        "WORKER_POLL_DELAY_S",
        "posted/sent",
        "first post p50 ms",
        "p90 ms",
        "p99 ms",
        "p99 by run",
        "max ms",
        "p50 ack / queue wait / job ms",
        "workers' CPU at 100/s",
        "idle Redis cmds/s",
        "idle workers' CPU",
        "other CPU (max)",
    ]
    targets = {}
    for s in measured["settings"]:
        p99 = s["first_post_ms"]["p99"]
        ok = s["posted"] == s["sent"] and s["duplicate_posts"] == 0
        how = f"{p99:.0f} ms, {P99_TARGET_MS - p99:+.0f} ms of headroom"
        if not ok:
            how += f"; posted {s['posted']}/{s['sent']}, {s['duplicate_posts']} twice"
        targets[f"p99_{s['poll_delay_s']:g}"] = (
            f"first post p99 < {P99_TARGET_MS:g} ms at {args.rate:g} alerts/s, "
            f"WORKER_POLL_DELAY_S={s['poll_delay_s']:g}: "
            + verdict(p99 < P99_TARGET_MS and ok, how)
        )
    others = [r["cpu_pct"]["other"] for s in measured["settings"] for r in s["runs"]]
    if note := noise_note(others):
        targets["noise"] = note
    return {
        "benchmark": "first_post",
        "settings": vars(args),
        "results": measured["settings"],
        "targets": targets,
        "environment": measured["environment"],
        "table": table(headers, rows),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    with Cleanup("first_post", keep=args.keep) as cleanup:
        measured = run_uvloop(measure(args, cleanup))
    report = build_report(args, measured)
    publish("first_post", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
