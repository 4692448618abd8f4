"""Time to first Slack post: webhook request -> the incident's first message at a Slack stub.

    bench/run first_post             # 100 alerts/s for 10 s per WORKER_POLL_DELAY_S 0.5, 0.05, 0.01
    bench/run first_post --quick     # 3 s per poll delay

An api process and a worker process (`plantao serve`, RUN_MODE=api / worker) on this script's
own redis-server (AOF, appendfsync always); SLACK_WEBHOOK_URL points at an asyncio stub in this
process, whose clock also timed the sends. No PLANTAO_CONFIG services: probes answer at once
("no url"), so what is measured is plantão's own path: intake, queue, job, Slack post.
Every delivery is one alert of a new service, hence a new incident and one first post each.
Before the load, the idle worker is watched for a few seconds: Redis commands/s (INFO
commandstats) and CPU, the price of the poll delay.
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
    HttpClient,
    RedisServer,
    StubServer,
    arq_results,
    body_template,
    cpu_seconds,
    environment,
    fixed_rate,
    idle_cost,
    install_signal_handlers,
    latency_summary,
    new_nonce,
    run_uvloop,
    slack_service,
    spawn_worker,
    start_api,
    table,
    verdict,
    wait_until,
    worker_ready,
    write_results,
)

PATH = "/webhooks/alertmanager"
P99_TARGET_MS = 100.0
SHIPPED_POLL_DELAY_S = 0.05  # core/settings.py worker_poll_delay_s


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run first_post", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=100.0, help="alerts (= new incidents) per s")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load per setting")
    p.add_argument("--poll-delays", default="0.5,0.05,0.01", help="WORKER_POLL_DELAY_S values")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of load not counted")
    p.add_argument("--idle", type=float, default=5.0, help="seconds of idle watching")
    p.add_argument("--max-jobs", type=int, default=20, help="WORKER_MAX_JOBS (shipped: 20)")
    p.add_argument("--quick", action="store_true", help="smoke profile: 3 s load, 2 s idle")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (logs) at the end")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.idle = 3.0, 2.0
    if not (0 < args.duration <= 120 and 0 < args.idle <= 60 and 0 < args.rate <= 2000):
        p.error("keep --duration within 120 s, --idle within 60 s and --rate within 2000")
    return args


async def one_setting(
    cleanup: Cleanup, server: RedisServer, api: Api, poll: float, args: argparse.Namespace
) -> dict[str, Any]:
    server.flush()
    slack = await StubServer().start()
    worker = spawn_worker(
        cleanup,
        server,
        f"worker-{poll}",
        SLACK_WEBHOOK_URL=f"{slack.url}/services/T0/B0/bench",
        WORKER_POLL_DELAY_S=str(poll),
        WORKER_MAX_JOBS=str(args.max_jobs),
    )
    try:
        await worker_ready(server, worker)
        await wait_until(lambda: False, 1.0)  # let start-up settle before watching it idle
        idle = await idle_cost(
            server, args.idle, {"worker": worker.process.pid, "redis": server.pid}
        )
        posted: dict[str, float] = {}
        duplicates = 0

        def on_post(got: Any) -> None:
            nonlocal duplicates
            service = slack_service(got.body)
            if service is None:
                return
            if service in posted:
                duplicates += 1
            else:
                posted[service] = got.at

        slack.on_request = on_post
        client = HttpClient(api.port)
        pids = {"worker": worker.process.pid, "api": api.pid, "redis": server.pid}
        try:
            # warm-up (not counted): first requests pay for lazy imports and new connections
            warm = await fixed_rate(
                client, PATH, BodyMaker(body_template(1), new_nonce()), args.rate, args.warmup
            )
            await wait_until(lambda: len(posted) >= warm.ok, 30.0)
            posted.clear()
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            load_started_ms = time.time_ns() // 1_000_000
            load = await fixed_rate(
                client, PATH, BodyMaker(body_template(1), new_nonce()), args.rate, args.duration
            )
            drained = await wait_until(lambda: len(posted) >= load.ok, 30.0)
            busy = {
                name: round((cpu_seconds(pid) - cpu[name]) / load.duration_s * 100, 1)
                for name, pid in pids.items()
            }
        finally:
            await client.close()
        await wait_until(lambda: False, 0.5)  # a late duplicate would show up here
        latencies = [(posted[s] - t) * 1000 for s, t in load.sends.items() if s in posted]
        jobs = [r for r in arq_results(server) if r.get("f") == "handle_incident"]
        jobs = [r for r in jobs if r["et"] >= load_started_ms]
        queue_wait = [float(r["st"] - r["et"]) for r in jobs]
        job_run = [float(r["ft"] - r["st"]) for r in jobs]
    finally:
        worker.stop(5.0)
        await slack.close()
    return {
        "poll_delay_s": poll,
        "max_jobs": args.max_jobs,
        "sent": load.sent,
        "acked": load.ok,
        "ack_errors": load.errors,
        "ack_ms": latency_summary(load.latency_ms),
        "posted": len(posted),
        "duplicate_posts": duplicates,
        "drained": drained,
        "first_post_ms": latency_summary(latencies),
        "queue_wait_ms": latency_summary(queue_wait),
        "job_run_ms": latency_summary(job_run),
        "driver_max_late_ms": round(load.max_late_ms, 2),
        "idle": idle,
        "cpu_pct_under_load": busy,
        "worker_cpu_ms_per_incident": round(
            busy["worker"] / 100 * load.duration_s * 1000 / max(1, len(posted)), 2
        ),
    }


async def measure(args: argparse.Namespace, cleanup: Cleanup) -> dict[str, Any]:
    server = RedisServer(cleanup)
    api = start_api(cleanup, server.url)
    settings = []
    for poll in [float(p) for p in args.poll_delays.split(",")]:
        started = time.monotonic()
        print(f"… WORKER_POLL_DELAY_S={poll:g}", flush=True)
        res = await one_setting(cleanup, server, api, poll, args)
        fp, idle = res["first_post_ms"], res["idle"]
        print(
            f"  first post p50 {fp['p50']} ms p99 {fp['p99']} ms ({res['posted']}/{res['sent']}),"
            f" idle {idle['commands_per_s']} Redis commands/s,"
            f" worker CPU {idle['cpu_pct']['worker']}% ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        settings.append(res)
    return {"settings": settings, "environment": environment(server)}


def build_report(args: argparse.Namespace, measured: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for s in measured["settings"]:
        fp, idle = s["first_post_ms"], s["idle"]
        rows.append(
            [
                f"{s['poll_delay_s']:g}" + (" (shipped)" if s["poll_delay_s"] == 0.05 else ""),
                f"{s['posted']}/{s['sent']}",
                fp["p50"],
                fp["p90"],
                fp["p99"],
                fp["max"],
                f"{s['queue_wait_ms']['p50']:.0f} / {s['queue_wait_ms']['p99']:.0f}",
                f"{s['job_run_ms']['p50']:.0f} / {s['job_run_ms']['p99']:.0f}",
                f"{s['ack_ms']['p50']:.1f} / {s['ack_ms']['p99']:.1f}",
                f"{s['cpu_pct_under_load']['worker']:g}%",
                f"{idle['commands_per_s']:g}",
                f"{idle['cpu_pct']['worker']:g}% / {idle['cpu_pct']['redis']:g}%",
            ]
        )
    headers = [
        "WORKER_POLL_DELAY_S",
        "posted/sent",
        "first post p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "queue wait p50 / p99 ms",
        "job p50 / p99 ms",
        "ack p50 / p99 ms",
        "worker CPU under load",
        "idle Redis cmds/s",
        "idle CPU worker / redis",
    ]
    targets = {}
    for s in measured["settings"]:
        p99 = s["first_post_ms"]["p99"]
        ok = s["posted"] == s["sent"] and s["duplicate_posts"] == 0
        targets[f"p99_{s['poll_delay_s']:g}"] = (
            f"first post p99 < {P99_TARGET_MS:g} ms at {args.rate:g} alerts/s, "
            f"WORKER_POLL_DELAY_S={s['poll_delay_s']:g}: "
            + verdict(
                p99 < P99_TARGET_MS and ok,
                f"{p99:.0f} ms, {P99_TARGET_MS - p99:+.0f} ms of headroom"
                + ("" if ok else f"; posted {s['posted']}/{s['sent']}, {s['duplicate_posts']} dup"),
            )
        )
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
    path = write_results("first_post", report)
    print()
    print(report["table"])
    print()
    for line in report["targets"].values():
        print(line)
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
