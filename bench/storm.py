"""An alert storm: 10,000 deliveries of 50 alerts (fingerprints), as a flapping Alertmanager
re-sending every group would make them.

    bench/run storm             # 10,000 deliveries, 50 at a time
    bench/run storm --quick     # 2,000 deliveries

An api and a worker process (`plantao serve`, as shipped: WORKER_POLL_DELAY_S 0.05,
WORKER_MAX_JOBS 20) on this script's own redis-server (AOF, appendfsync always); Slack is an
asyncio stub. Each fingerprint is its own service, so 50 incidents and at most 50 posts are
right; every other delivery is a byte-identical repeat that must be counted as a duplicate.
Reported: time to drain (first request -> every incident posted and the queue empty), Slack
posts, the api's and worker's peak RSS (VmHWM in /proc), Redis memory before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from typing import Any

from bench.common import (
    BodyMaker,
    Cleanup,
    CpuMeter,
    HttpClient,
    RedisServer,
    StubServer,
    await_quiet,
    body_template,
    environment,
    install_signal_handlers,
    latency_summary,
    new_nonce,
    noise_note,
    proc_status_kb,
    publish,
    run_uvloop,
    slack_service,
    spawn_worker,
    start_api,
    table,
    verdict,
    wait_until,
    worker_ready,
)

PATH = "/webhooks/alertmanager"
MIB = 1024 * 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run storm", description=__doc__.split("\n\n")[0])
    p.add_argument("--deliveries", type=int, default=10_000)
    p.add_argument("--fingerprints", type=int, default=50, help="distinct alerts (and services)")
    p.add_argument("--concurrency", type=int, default=50, help="deliveries in flight at once")
    p.add_argument("--poll-delay", type=float, default=0.05, help="WORKER_POLL_DELAY_S")
    p.add_argument("--max-jobs", type=int, default=20, help="WORKER_MAX_JOBS")
    p.add_argument("--quiet-wait", type=float, default=10.0, help="max wait for an idle machine")
    p.add_argument("--quick", action="store_true", help="smoke profile: 2,000 deliveries")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (logs) at the end")
    args = p.parse_args(argv)
    if args.quick:
        args.deliveries = 2_000
    if not (1 <= args.deliveries <= 200_000 and 1 <= args.fingerprints <= args.deliveries):
        p.error("--deliveries within 1..200000, --fingerprints within 1..deliveries")
    return args


async def blast(
    port: int, bodies: list[bytes], deliveries: int, concurrency: int
) -> dict[str, Any]:
    """Closed loop: `concurrency` senders share `deliveries` requests, round-robin over bodies."""
    client = HttpClient(port, max_conns=concurrency)
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    totals = {"accepted": 0, "duplicates": 0}
    counter = iter(range(deliveries))

    async def sender() -> None:
        for i in counter:
            started = time.perf_counter()
            status, raw = await asyncio.wait_for(client.post(PATH, bodies[i % len(bodies)]), 10)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                answer = json.loads(raw)
                totals["accepted"] += answer["accepted"]
                totals["duplicates"] += answer["duplicates"]

    try:
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    finally:
        await client.close()
    return {"statuses": statuses, "ack_ms": latency_summary(latencies), **totals}


async def measure(args: argparse.Namespace, cleanup: Cleanup) -> dict[str, Any]:
    server = RedisServer(cleanup)
    api = start_api(cleanup, server.url)
    slack = await StubServer().start()
    posts: list[tuple[float, str | None]] = []
    slack.on_request = lambda got: posts.append((got.at, slack_service(got.body)))
    try:
        worker = spawn_worker(
            cleanup,
            server,
            SLACK_WEBHOOK_URL=f"{slack.url}/services/T0/B0/bench",
            WORKER_POLL_DELAY_S=str(args.poll_delay),
            WORKER_MAX_JOBS=str(args.max_jobs),
        )
        await worker_ready(server, worker)
        await asyncio.sleep(1.0)
        maker = BodyMaker(body_template(1), new_nonce())
        bodies = [maker.next()[1] for _ in range(args.fingerprints)]
        before = {
            **redis_memory(server),
            "redis_keys": server.dbsize(),
            "api_rss_kb": proc_status_kb(api.pid, "VmRSS"),
            "worker_rss_kb": proc_status_kb(worker.process.pid, "VmRSS"),
        }
        print(f"… {args.deliveries:,} deliveries of {args.fingerprints} alerts", flush=True)
        quiet = await await_quiet(args.quiet_wait)
        meter = CpuMeter({"api": api.pid, "worker": worker.process.pid, "redis": server.pid})
        t0 = time.perf_counter()
        sent = await blast(api.port, bodies, args.deliveries, args.concurrency)
        acked_s = time.perf_counter() - t0
        busy = meter.stop()

        def drained() -> bool:
            incidents = int(server.zcard("plantao:incidents"))
            return len(posts) >= incidents and int(server.zcard("arq:queue")) == 0

        ok = await wait_until(drained, 60.0, 0.005)
        drain_s = time.perf_counter() - t0
        await asyncio.sleep(2.0)  # anything posted twice would arrive now
        after = {
            **redis_memory(server),
            "redis_keys": server.dbsize(),
            "api_rss_kb": proc_status_kb(api.pid, "VmRSS"),
            "worker_rss_kb": proc_status_kb(worker.process.pid, "VmRSS"),
        }
        peak = {
            "api_peak_rss_kb": proc_status_kb(api.pid, "VmHWM"),
            "worker_peak_rss_kb": proc_status_kb(worker.process.pid, "VmHWM"),
        }
        incidents = int(server.zcard("plantao:incidents"))
        kinds = memory_by_kind(server)
        worker.stop(5.0)
    finally:
        await slack.close()
    services = [s for _, s in posts]
    return {
        "deliveries": args.deliveries,
        "fingerprints": args.fingerprints,
        "sent": sent,
        "acked_s": round(acked_s, 2),
        "deliveries_per_s": round(args.deliveries / acked_s, 1),
        "cpu_pct_while_sending": busy,
        "quiet_before": quiet,
        "drained": ok,
        "drain_s": round(drain_s, 2),
        "incidents": incidents,
        "slack_posts": len(posts),
        "distinct_services_posted": len(set(services)),
        "last_post_s": round(max((t for t, _ in posts), default=t0) - t0, 2),
        "before": before,
        "after": after,
        "peak": peak,
        "redis_memory_by_key_kind": kinds,
        "redis_memory_growth_bytes": after["redis_used_memory"] - before["redis_used_memory"],
        "environment": environment(server),
    }


def redis_memory(server: RedisServer) -> dict[str, int]:
    info = server.info("memory")
    return {
        "redis_used_memory": int(info["used_memory"]),
        "redis_used_memory_dataset": int(info["used_memory_dataset"]),
    }


def memory_by_kind(server: RedisServer) -> dict[str, dict[str, int]]:
    """MEMORY USAGE summed per key shape (ids replaced by *), largest first."""
    kinds: dict[str, dict[str, int]] = {}
    for key in server.scan_keys():
        shape = re.sub(r"svc-[0-9a-f]+|[0-9a-f]{16,}|\d+", "*", key.decode(errors="replace"))
        kind = kinds.setdefault(shape, {"keys": 0, "bytes": 0})
        kind["keys"] += 1
        kind["bytes"] += server.memory_usage(key)
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]["bytes"]))


def rss(m: dict[str, Any], role: str) -> str:
    peak, before = m["peak"][f"{role}_peak_rss_kb"], m["before"][f"{role}_rss_kb"]
    return f"{peak / 1024:.1f} MiB (idle before: {before / 1024:.1f})"


def grew(m: dict[str, Any], key: str) -> str:
    before, after = m["before"][key], m["after"][key]
    return f"{before / MIB:.2f} → {after / MIB:.2f} MiB ({(after - before) / 1024:+,.0f} KiB)"


def build_report(args: argparse.Namespace, m: dict[str, Any]) -> dict[str, Any]:
    sent, cpu = m["sent"], m["cpu_pct_while_sending"]
    answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(sent["statuses"].items()))
    drain = f"{m['drain_s']} s" + ("" if m["drained"] else " (TIMED OUT)")
    rows = [
        ["deliveries (distinct alerts)", f"{m['deliveries']:,} ({m['fingerprints']})"],
        ["answers", answers],
        ["accepted / duplicates (api's count)", f"{sent['accepted']:,} / {sent['duplicates']:,}"],
        ["all acked in", f"{m['acked_s']} s ({m['deliveries_per_s']:,.0f} deliveries/s)"],
        [
            f"ack p50 / p99 ({args.concurrency} in flight)",
            f"{sent['ack_ms']['p50']} / {sent['ack_ms']['p99']} ms",
        ],
        ["time to drain (all posted, queue empty)", drain],
        ["incidents / Slack posts", f"{m['incidents']} / {m['slack_posts']}"],
        ["api peak RSS", rss(m, "api")],
        ["worker peak RSS", rss(m, "worker")],
        [
            "CPU while sending: api / worker / redis / driver / other",
            " / ".join(f"{cpu[k]:g}%" for k in ("api", "worker", "redis", "driver", "other")),
        ],
        ["Redis used_memory before → after", grew(m, "redis_used_memory")],
        ["Redis used_memory_dataset before → after", grew(m, "redis_used_memory_dataset")],
        ["Redis keys before → after", f"{m['before']['redis_keys']} → {m['after']['redis_keys']}"],
        [
            "largest key kinds (MEMORY USAGE)",
            "; ".join(
                f"{kind} ×{v['keys']}: {v['bytes'] / 1024:,.0f} KiB"
                for kind, v in list(m["redis_memory_by_key_kind"].items())[:4]
            ),
        ],
    ]
    posts_ok = m["slack_posts"] <= args.fingerprints and m["drained"]
    targets = {
        "posts": f"top-level Slack posts ≤ {args.fingerprints}: "
        + verdict(posts_ok, f"{m['slack_posts']} posts for {m['incidents']} incidents"),
    }
    if note := noise_note([cpu["other"]]):
        targets["noise"] = note
    return {
        "benchmark": "storm",
        "settings": vars(args),
        "results": {k: v for k, v in m.items() if k != "environment"},
        "targets": targets,
        "environment": m["environment"],
        "table": table(["storm", "measured"], rows),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    with Cleanup("storm", keep=args.keep) as cleanup:
        measured = run_uvloop(measure(args, cleanup))
    report = build_report(args, measured)
    publish("storm", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
