"""Where the time goes: py-spy on plantão's api under wrk, or on its worker at a fixed rate.

    bench/run profile api --size 1      # the api while wrk posts 1-alert deliveries
    bench/run profile api --size 10
    bench/run profile worker            # the worker at 100 new incidents/s (first_post's load)
    bench/run profile worker --rate 60 --probe-ms 50   # with 50 ms probes (bench/worker.py's)

Needs py-spy in the venv (`.venv/bin/pip install py-spy`). Samples only while the GIL is
held (`--gil`), so the shares are shares of the process's Python CPU time, not of waiting.
Writes the raw collapsed stacks to bench/results/profile-<target>-<timestamp>.txt and prints
the largest inclusive frames and a few buckets named after plantão's own steps.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    REPO,
    RESULTS_DIR,
    BodyMaker,
    Cleanup,
    CpuMeter,
    HttpClient,
    RedisServer,
    StubServer,
    body_template,
    fixed_rate,
    install_signal_handlers,
    new_nonce,
    run_uvloop,
    spawn_worker,
    start_api,
    wait_until,
    worker_ready,
)
from bench.ingest import wrk

PY_SPY = REPO / ".venv" / "bin" / "py-spy"
# (label, regular expression searched in the whole collapsed stack): inclusive shares
API_BUCKETS = [
    ("the intake's own steps (webhook/intake_asgi.py accept)", r"accept \(webhook/intake_asgi\.py"),
    ("  parse the body into Alerts", r"parse \(webhook/sources/alertmanager\.py"),
    ("    of which pydantic model_validate_json", r"model_validate_json"),
    ("    of which building Alert models", r"_alert \(webhook/sources/alertmanager"),
    ("  classify, silences, inhibition (Intake.admit)", r"admit \(webhook/intake\.py"),
    ("    of which classification", r"Classifier\.classify"),
    ("  Store.ingest (all)", r"Store\.ingest"),
    ("    of which encoding the records", r"Store\.ingest.*;(_record|dumps)"),
    (
        "    of which the EVALSHA round trip (webhook/redis_pipe.py)",
        r"Store\.ingest.*(PipedScript|AsyncScript)\.__call__",
    ),
    ("  the log line (structlog)", r"accept \(webhook/intake_asgi\.py[^;]*;[^;]*(structlog|meth)"),
    ("reading the body (webhook/intake_asgi.py)", r"read_capped \(webhook/intake_asgi"),
    ("sending the answer (uvicorn, middleware)", r"send_with_id"),
    (
        "outside the intake's steps (server, framework, middleware)",
        r"^(?!.*accept \(webhook/intake_asgi\.py)",
    ),
    ("  uvicorn outside the app (HTTP parsing, transport)", r"^(?!.*ProxyHeadersMiddleware)"),
    ("stdlib asyncio selector loop frames", r"selectors\.py|selector_events\.py"),
]
WORKER_BUCKETS = [
    ("handle_incident (the job's own coroutine)", r"handle_incident \(worker/jobs\.py"),
    ("HTTP through httpx (probes and Slack)", r"httpx/_client\.py"),
    ("  probes (HttpProbes; gathered in their own tasks)", r"HttpProbes\."),
    ("  the Slack post", r"(WebhookPoster|WebApiPoster)\.post"),
    ("Store calls (redis-py)", r"Store\."),
    ("ARQ's own bookkeeping (poll, start, finish)", r"arq/worker\.py"),
    ("structlog", r"structlog"),
    ("stdlib asyncio selector loop frames", r"selectors\.py|selector_events\.py"),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run profile", description=__doc__.split("\n\n")[0])
    p.add_argument("target", choices=["api", "worker"])
    p.add_argument("--size", type=int, default=1, help="alerts per delivery (api)")
    p.add_argument("--duration", type=int, default=8, help="seconds sampled")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (api)")
    p.add_argument("--rate", type=float, default=100.0, help="new incidents/s (worker)")
    p.add_argument(
        "--probe-ms",
        type=float,
        default=0.0,
        help="worker: configure services whose probes answer after this long (0: none)",
    )
    p.add_argument("--top", type=int, default=30, help="inclusive frames to print")
    return p.parse_args(argv)


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    argv = [str(PY_SPY), "record", "-p", str(pid), "-d", str(seconds), "-r", "250"]
    argv += ["-f", "raw", "-o", str(out), "--gil"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile_api(args: argparse.Namespace, cleanup: Cleanup, out: Path) -> str:
    server = RedisServer(cleanup)
    api = start_api(cleanup, server.url)
    template = cleanup.tmp / "body.json"
    template.write_text(body_template(args.size))
    wrk(api.port, template, 1, args.connections)
    spy = record(api.pid, args.duration, out)
    meter = CpuMeter({"api": api.pid, "redis": server.pid})
    result = wrk(api.port, template, args.duration + 1, args.connections)
    cpu = meter.stop()
    _, err = spy.communicate(timeout=60)
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')}")
    per_s = result["requests"] / (result["duration_us"] / 1e6)
    evalsha = server.command_usec().get("evalsha", (0, 0.0))[1]
    return (
        f"api, {args.size}-alert deliveries: {per_s:,.0f} deliveries/s "
        f"({per_s * args.size:,.0f} alerts/s); CPU {cpu}; EVALSHA {evalsha:.0f} µs per call"
    )


async def _worker_load(
    args: argparse.Namespace, cleanup: Cleanup, out: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    server = RedisServer(cleanup)
    api = start_api(cleanup, server.url)
    slack = await StubServer().start()
    probe = await StubServer(delay_s=args.probe_ms / 1000, answer=b'{"status":"ok"}').start()
    extra = {"SLACK_WEBHOOK_URL": f"{slack.url}/services/x"}
    alertname = "HighErrorRate"
    bodies = BodyMaker(body_template(1, alertname), new_nonce())
    if args.probe_ms:
        # every service the load will name gets a url: api_down probes /health and /health/ready
        alertname = "ServiceDown"
        nonce = new_nonce()
        bodies = BodyMaker(body_template(1, alertname), nonce)
        count = int(args.rate * (args.duration + 3))
        services = [f"svc-{BodyMaker('', nonce).prefix(i)}" for i in range(count)]
        config = cleanup.tmp / "plantao.toml"
        config.write_text("".join(f'[services."{s}"]\nurl = "{probe.url}"\n' for s in services))
        extra["PLANTAO_CONFIG"] = str(config)
    try:
        worker = spawn_worker(cleanup, server, "worker", True, **extra)
        await worker_ready(server, worker)
        client = HttpClient(api.port)
        await fixed_rate(client, "/webhooks/alertmanager", bodies, args.rate, 1)
        spy = record(worker.process.pid, args.duration, out)
        meter = CpuMeter({"worker": worker.process.pid, "api": api.pid})
        load = await fixed_rate(
            client, "/webhooks/alertmanager", bodies, args.rate, args.duration + 1
        )
        await client.close()
        await wait_until(lambda: spy.poll() is not None, 60.0, 0.1)
        cpu = meter.stop()
        per_incident = cpu["worker"] / 100 * load.duration_s * 1000 / max(1, load.ok)
        worker.stop(5.0)
    finally:
        await slack.close()
        await probe.close()
    line = (
        f"worker at {args.rate:g} new incidents/s ({alertname}, probes "
        f"{f'{args.probe_ms:g} ms' if args.probe_ms else 'not configured'}): CPU {cpu}; "
        f"{per_incident:.1f} ms of worker CPU per incident; {len(probe.received)} probes"
    )
    return line, spy


def profile_worker(args: argparse.Namespace, cleanup: Cleanup, out: Path) -> str:
    line, spy = run_uvloop(_worker_load(args, cleanup, out))
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {spy.stderr.read().decode() if spy.stderr else ''}")
    return str(line)


def summarize(raw: Path, buckets: list[tuple[str, str]], top: int) -> str:
    stacks: list[tuple[str, int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack, int(count)))
    total = sum(n for _, n in stacks) or 1
    inclusive: collections.Counter[str] = collections.Counter()
    for stack, n in stacks:
        for frame in {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}:
            inclusive[frame] += n
    lines = [f"{total} samples (GIL held)", "", "buckets (inclusive share of Python CPU):"]
    for label, pattern in buckets:
        rx = re.compile(pattern)
        share = sum(n for stack, n in stacks if rx.search(stack)) / total * 100
        lines.append(f"  {share:5.1f}%  {label}")
    lines += ["", f"top {top} frames (inclusive):"]
    lines += [f"  {n / total * 100:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not PY_SPY.exists() and shutil.which("py-spy") is None:
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    install_signal_handlers()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{args.target}-{args.size}" if args.target == "api" else args.target
    out = RESULTS_DIR / f"profile-{name}-{stamp}.txt"
    with Cleanup("profile") as cleanup:
        if args.target == "api":
            headline = profile_api(args, cleanup, out)
        else:
            headline = profile_worker(args, cleanup, out)
    buckets = API_BUCKETS if args.target == "api" else WORKER_BUCKETS
    summary = f"{headline}\n\n{summarize(out, buckets, args.top)}"
    out.with_suffix(".summary.txt").write_text(summary + "\n")
    print(summary)
    print(f"\nraw stacks: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
