"""Intake throughput and ack latency: plantão's api against a minimal FastAPI baseline.

    bench/run ingest            # 3 runs x 8 s per app and body size, then 10 s at 500 alerts/s
    bench/run ingest --quick    # smoke: 1 run x 3 s, 3 s fixed rate

Throughput: wrk (one thread, keep-alive connections, a Lua script that makes every delivery
distinct: new fingerprints and a new service, so each one opens an incident and enqueues its
job) against `plantao serve` RUN_MODE=api, and against bench/baseline_app.py, alternately,
under the same uvicorn settings, on this script's own redis-server (AOF, appendfsync always).
Ack latency at a fixed rate: an open-loop asyncio driver (wrk2 is not packaged in Debian)
sends 500 alerts/s and times each answer from its scheduled send time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    TOKEN,
    Api,
    BodyMaker,
    Cleanup,
    CpuMeter,
    HttpClient,
    RedisServer,
    body_template,
    environment,
    fixed_rate,
    fmt_spread,
    install_signal_handlers,
    latency_summary,
    new_nonce,
    noise_note,
    run_uvloop,
    spread,
    start_api,
    start_api_variant,
    start_baseline,
    table,
    timed,
    verdict,
    wait_for_quiet,
    write_results,
)

PATH = "/webhooks/alertmanager"
LUA = Path(__file__).with_name("wrk") / "alertmanager.lua"
DIAGNOSE = {  # bench/api_variants.py: the shipped api with one speed-up turned off
    "plantao-no-fast-path": ("--no-fast-path",),
    "plantao-no-pipe": ("--no-pipe",),
    "plantao-no-prefilter": ("--no-prefilter",),
}
RATIO_TARGET = 0.5
P99_TARGET_MS = 50.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="measured runs per app and size")
    p.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    p.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each run")
    p.add_argument("--connections", type=int, default=16, help="wrk keep-alive connections")
    p.add_argument("--sizes", default="1,10", help="alerts per delivery, comma-separated")
    p.add_argument("--rate", type=float, default=500.0, help="alerts/s of the fixed-rate run")
    p.add_argument("--rate-duration", type=float, default=6.0, help="seconds per fixed-rate run")
    p.add_argument("--rate-runs", type=int, default=2, help="fixed-rate runs per app and size")
    p.add_argument(
        "--appendfsync",
        default="always",
        choices=["always", "everysec", "no"],
        help="Redis AOF fsync policy (production: always; others only to see what it costs)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each run, wait up to this long for the shared machine to be idle",
    )
    p.add_argument(
        "--diagnose",
        action="store_true",
        help="also measure the api with each speed-up turned off (bench/api_variants.py)",
    )
    p.add_argument(
        "--also-lua",
        type=Path,
        help="also measure the api with its Lua step read from this file (a proposed script)",
    )
    p.add_argument("--quick", action="store_true", help="smoke profile: 1 run x 3 s, 3 s rate")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (logs) at the end")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 1, 3, 1
        args.rate_runs, args.rate_duration = 1, 3.0
    if not (1 <= args.runs <= 20 and 1 <= args.duration <= 120 and args.rate_duration <= 120):
        p.error("keep --runs within 1..20 and durations within 120 s")
    if not 1 <= args.rate_runs <= 20:
        p.error("keep --rate-runs within 1..20")
    return args


def wrk(port: int, template: Path, seconds: int, connections: int) -> dict[str, Any]:
    """One wrk run; returns the JSON line its done() printed."""
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}{PATH}",
        "--",
        str(template),
        str(new_nonce()),
        TOKEN,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def stored(server: RedisServer, app: str) -> int:
    """What the app holds in Redis: plantão's incidents (one per delivery), baseline's bodies."""
    if app.startswith("plantao"):
        return int(server.zcard("plantao:incidents"))
    return int(server.llen("baseline:alerts"))


def one_run(
    server: RedisServer, app: str, api: Api, template: Path, size: int, args: argparse.Namespace
) -> dict[str, Any]:
    server.flush()
    wrk(api.port, template, args.warmup, args.connections)
    server.flush()
    quiet = wait_for_quiet(args.quiet_wait)
    meter = CpuMeter({"app": api.pid, "redis": server.pid})
    out = wrk(api.port, template, args.duration, args.connections)
    cpu = meter.stop()
    seconds = out["duration_us"] / 1e6
    errors = sum(out[k] for k in ("connect", "read", "write", "status", "timeout"))
    evalsha = server.command_usec().get("evalsha", (0, 0.0))
    run = {
        "requests": out["requests"],
        "seconds": round(seconds, 3),
        "requests_per_s": round(out["requests"] / seconds, 1),
        "alerts_per_s": round(out["requests"] * size / seconds, 1),
        "errors": errors,
        "wrk": out,
        "stored": stored(server, app),
        "cpu_pct": cpu,
        "quiet_before": quiet,
        "evalsha_us_per_call": evalsha[1] if app.startswith("plantao") else None,
    }
    print(
        f"  {app:8} {size:>2}-alert: {run['alerts_per_s']:>9,.0f} alerts/s, "
        f"p99 {out['p99_us'] / 1000:.1f} ms, errors {errors}, stored {run['stored']:,}, "
        f"CPU {app} {cpu['app']}% redis {cpu['redis']}% wrk {cpu.get('children', 0)}% "
        f"other {cpu['other']}%",
        flush=True,
    )
    if errors:
        raise RuntimeError(f"{app} answered errors under load: {out}")
    return run


async def fixed(api: Api, template: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    client = HttpClient(api.port)
    try:
        res = await fixed_rate(
            client, PATH, BodyMaker(template, new_nonce()), args.rate / size, args.rate_duration
        )
    finally:
        await client.close()
    return {
        "sent": res.sent,
        "ok": res.ok,
        "errors": res.errors,
        "ack_ms": latency_summary(res.latency_ms),
        "service_ms": latency_summary(res.service_ms),
        "driver_max_late_ms": round(res.max_late_ms, 2),
        "seconds": round(res.duration_s, 2),
        "_latencies": res.latency_ms,
    }


def fixed_runs(
    server: RedisServer, apps: dict[str, Api], template: str, size: int, args: argparse.Namespace
) -> dict[str, Any]:
    """`--rate-runs` open-loop runs per app, alternating apps; percentiles over all samples."""
    runs: dict[str, list[dict[str, Any]]] = {app: [] for app in apps}
    for _ in range(args.rate_runs):
        for app, api in apps.items():
            server.flush()
            quiet = wait_for_quiet(args.quiet_wait)
            aof, _ = aof_rewrites(server)
            meter = CpuMeter({"app": api.pid, "redis": server.pid})
            r = run_uvloop(fixed(api, template, size, args))
            r["cpu_pct"], r["quiet_before"] = meter.stop(), quiet
            done, running = aof_rewrites(server)
            r["aof_rewrites"] = done - aof + running  # rewrites (forks) that ran in the window
            runs[app].append(r)
            print(
                f"  {app:8} {size:>2}-alert at {args.rate:g} alerts/s: ack p50 "
                f"{r['ack_ms']['p50']} ms p99 {r['ack_ms']['p99']} ms, errors {r['errors']}, "
                f"CPU {app} {r['cpu_pct']['app']}% other {r['cpu_pct']['other']}%"
                + (f", AOF rewrites {r['aof_rewrites']}" if r["aof_rewrites"] else ""),
                flush=True,
            )
    out: dict[str, Any] = {}
    for app, rs in runs.items():
        pooled = [x for r in rs for x in r.pop("_latencies")]
        out[app] = {
            "alerts_per_s": args.rate,
            "requests_per_s": args.rate / size,
            "sent": sum(r["sent"] for r in rs),
            "ok": sum(r["ok"] for r in rs),
            "ack_ms": latency_summary(pooled),
            "p99_by_run": spread([r["ack_ms"]["p99"] for r in rs]),
            "cpu_pct_app": spread([r["cpu_pct"]["app"] for r in rs]),
            "cpu_pct_other": spread([r["cpu_pct"]["other"] for r in rs]),
            "aof_rewrites": sum(r["aof_rewrites"] for r in rs),
            "runs": rs,
        }
    return out


def aof_rewrites(server: RedisServer) -> tuple[int, int]:
    """(AOF rewrites finished so far, 1 if one is running): Redis forks and rewrites the file
    when it has doubled (auto-aof-rewrite-percentage), which can stall `appendfsync always`."""
    persistence = server.info("persistence")
    return int(persistence["aof_rewrites"]), int(persistence["aof_rewrite_in_progress"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/run ingest needs wrk on PATH (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    install_signal_handlers()
    sizes = [int(s) for s in args.sizes.split(",")]
    with Cleanup("ingest", keep=args.keep) as cleanup:
        server = RedisServer(cleanup, args.appendfsync)
        apps = {
            "plantao": start_api(cleanup, server.url),
            "baseline": start_baseline(cleanup, server.url),
        }
        if args.diagnose:
            for name, flags in DIAGNOSE.items():
                apps[name] = start_api_variant(cleanup, server.url, name, *flags)
        if args.also_lua:
            lua = str(args.also_lua.resolve())
            apps["plantao-lua"] = start_api_variant(cleanup, server.url, "lua", "--ingest-lua", lua)
        templates = {}
        for size in sizes:
            templates[size] = body_template(size)
            (cleanup.tmp / f"body-{size}.json").write_text(templates[size])
        throughput: dict[str, dict[str, Any]] = {}
        for size in sizes:
            template = cleanup.tmp / f"body-{size}.json"
            runs: dict[str, list[dict[str, Any]]] = {a: [] for a in apps}
            with timed(f"throughput, {size}-alert deliveries, {args.runs} x {args.duration:g} s"):
                for _ in range(args.runs):
                    for app, api in apps.items():  # alternate, so drift hits all alike
                        runs[app].append(one_run(server, app, api, template, size, args))
            throughput[str(size)] = summarize(runs)
        rate: dict[str, dict[str, Any]] = {}
        for size in sizes:
            runs_s = f"{args.rate_runs} x {args.rate_duration:g} s"
            with timed(f"fixed rate {args.rate:g} alerts/s, {size}-alert deliveries, {runs_s}"):
                rate[str(size)] = fixed_runs(server, apps, templates[size], size, args)
        env = environment(server)
    report = build_report(args, sizes, list(apps), throughput, rate, env)
    path = write_results("ingest", report)
    print()
    print(report["table"])
    print()
    print(report["rate_table"])
    print()
    for line in report["targets"].values():
        print(line)
    print(f"\nresults: {path}")
    return 0


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for app, rs in runs.items():
        out[app] = {
            "alerts_per_s": spread([r["alerts_per_s"] for r in rs]),
            "requests_per_s": spread([r["requests_per_s"] for r in rs]),
            "p50_ms": spread([r["wrk"]["p50_us"] / 1000 for r in rs]),
            "p99_ms": spread([r["wrk"]["p99_us"] / 1000 for r in rs]),
            "cpu_pct_app": spread([r["cpu_pct"]["app"] for r in rs]),
            "cpu_pct_redis": spread([r["cpu_pct"]["redis"] for r in rs]),
            "cpu_pct_wrk": spread([r["cpu_pct"].get("children", 0.0) for r in rs]),
            "cpu_pct_other": spread([r["cpu_pct"]["other"] for r in rs]),
            "runs": rs,
        }
    base = out["baseline"]
    for app, rs in runs.items():
        if app == "baseline":
            continue
        out[app]["ratio"] = round(
            out[app]["alerts_per_s"]["median"] / base["alerts_per_s"]["median"], 3
        )
        pairs = [
            p["alerts_per_s"] / b["alerts_per_s"] for p, b in zip(rs, runs["baseline"], strict=True)
        ]
        out[app]["ratio_by_run"] = spread(pairs)
    return out


def build_report(
    args: argparse.Namespace,
    sizes: list[int],
    apps: list[str],
    throughput: dict[str, dict[str, Any]],
    rate: dict[str, dict[str, Any]],
    env: dict[str, Any],
) -> dict[str, Any]:
    rows = []
    for size in sizes:
        for app in apps:
            a = throughput[str(size)][app]
            vs = "1×"
            if app != "baseline":
                by_run = a["ratio_by_run"]
                vs = f"{a['ratio']:.2f}× ({by_run['min']:.2f}–{by_run['max']:.2f})"
            rows.append(
                [
                    f"{size}",
                    app,
                    fmt_spread(a["alerts_per_s"]),
                    fmt_spread(a["requests_per_s"]),
                    f"{a['p50_ms']['median']:.1f} / {a['p99_ms']['median']:.1f}",
                    " / ".join(
                        f"{a[f'cpu_pct_{k}']['median']:.0f}%" for k in ("app", "redis", "wrk")
                    ),
                    f"{a['cpu_pct_other']['median']:.0f}% ({a['cpu_pct_other']['max']:.0f}%)",
                    vs,
                ]
            )
    headers = [
        "alerts/delivery",
        "app",
        "alerts/s median (min–max)",
        "deliveries/s",
        f"wrk p50 / p99 ms (c={args.connections})",
        "CPU app / redis / wrk",
        "other CPU median (max)",
        "vs baseline (run by run)",
    ]
    rate_rows = []
    for size in sizes:
        for app in apps:
            r = rate[str(size)][app]
            rate_rows.append(
                [
                    f"{size}",
                    app,
                    f"{r['alerts_per_s']:g} ({r['requests_per_s']:g} deliveries/s)",
                    f"{r['ok']}/{r['sent']}",
                    r["ack_ms"]["p50"],
                    r["ack_ms"]["p90"],
                    r["ack_ms"]["p99"],
                    f"{r['p99_by_run']['min']:.1f}–{r['p99_by_run']['max']:.1f}",
                    r["ack_ms"]["max"],
                    f"{r['cpu_pct_app']['median']:.0f}% / {r['cpu_pct_other']['median']:.0f}% "
                    f"({r['cpu_pct_other']['max']:.0f}%)",
                    r["aof_rewrites"],
                ]
            )
    rate_headers = [
        "alerts/delivery",
        "app",
        "alerts/s",
        "202/sent",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99 by run",
        "max ms",
        "CPU app / other (max)",
        "AOF rewrites",
    ]
    targets = {}
    for size in sizes:
        ratio = throughput[str(size)]["plantao"]["ratio"]
        targets[f"ratio_{size}"] = (
            f"ingest ≥ {RATIO_TARGET}× baseline, {size}-alert deliveries: "
            + verdict(
                ratio >= RATIO_TARGET, f"{ratio:.2f}×, {ratio / RATIO_TARGET:.2f} of the target"
            )
        )
        r = rate[str(size)]["plantao"]
        p99 = r["ack_ms"]["p99"]
        targets[f"p99_{size}"] = (
            f"ack p99 < {P99_TARGET_MS:g} ms at {args.rate:g} alerts/s, {size}-alert deliveries: "
            + verdict(
                p99 < P99_TARGET_MS and r["ok"] == r["sent"],
                f"{p99:.1f} ms, {P99_TARGET_MS - p99:+.1f} ms of headroom",
            )
        )
    others = [
        r["cpu_pct"]["other"]
        for phase in (throughput, rate)
        for by_app in phase.values()
        for app in apps
        for r in by_app[app]["runs"]
    ]
    if note := noise_note(others):
        targets["noise"] = note
    return {
        "benchmark": "ingest",
        "settings": vars(args),
        "throughput": throughput,
        "fixed_rate": rate,
        "targets": targets,
        "environment": env,
        "table": table(headers, rows),
        "rate_table": table(rate_headers, rate_rows),
    }


if __name__ == "__main__":
    sys.exit(main())
