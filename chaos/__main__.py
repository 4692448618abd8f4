"""`./chaos/run [short|durability|outage|all] [--keep]`: see chaos/README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos.check import check, settle
from chaos.driver import Delivery, alertmanager_body, answers, drive, plan
from chaos.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_DRAIN_S = 120.0  # the bound: drained within 120 s of the last fault
# How long the checker waits: a job whose worker was SIGKILLed mid-run is re-run by ARQ only
# once its in-progress key expires (JOB_TIMEOUT_S + 120 s + 10 s = 160 s by default).
DRAIN_S = 200.0


async def _faults(stack: Stack, schedule: list[tuple[float, str]], log: list[str]) -> None:
    t0 = time.monotonic()
    for at, fault in schedule:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        log.append(f"{time.monotonic() - t0:5.1f}s {fault}")
        match fault:
            case "kill worker":
                await asyncio.to_thread(stack.kill_worker)
            case "kill api":
                await asyncio.to_thread(stack.kill_api)
            case "kill redis":
                await stack.restart_redis(1.0)
            case "slack 5xx on":
                stack.slack.fail_status = 500
            case "slack 5xx off":
                stack.slack.fail_status = 0
            case "slack 429 on":
                stack.slack.min_interval_s = 0.5
            case "slack 429 off":
                stack.slack.min_interval_s = 0.0


async def soak(
    stack: Stack, n: int, rate: float, schedule: list[tuple[float, str]]
) -> dict[str, Any]:
    """Deliveries at `rate` while the faults of `schedule` happen; then drain and check."""
    stack.start(workers=1)
    deliveries = plan(n)
    faults: list[str] = []
    await asyncio.gather(drive(stack.base_url, deliveries, rate), _faults(stack, schedule, faults))
    drained = await settle(stack, DRAIN_S)
    verdict = check(stack, deliveries, drained)
    return {
        "drained_within_120_s": drained is not None and drained <= TARGET_DRAIN_S,
        "deliveries": n,
        "rate_per_s": rate,
        "faults": faults,
        "answers": answers(deliveries),
        **asdict(verdict),
        "lost": verdict.lost[:20],
        "passed": verdict.passed,
    }


async def durability(stack: Stack, n: int) -> dict[str, Any]:
    """`n` acknowledged alerts, Redis SIGKILLed right after the last 2xx, restarted: all there?"""
    stack.start(workers=0)
    deliveries = plan(n, duplicates=0.0, seed=11)
    await drive(stack.base_url, deliveries, rate=400.0, deadline_s=30.0)
    stack.redis.kill()  # kill -9 right after the last answer
    await asyncio.to_thread(stack.redis.start)
    acked = [fp for d in deliveries if d.acked for fp in d.fingerprints]
    present = sum(1 for fp in acked if stack.redis.get("exists", f"plantao:alert:{fp}"))
    return {
        "deliveries": n,
        "acked": len(acked),
        "present_after_kill": present,
        "passed": present == len(acked) == n,
    }


async def outage(stack: Stack, seconds: float = 30.0, rate: float = 20.0) -> dict[str, Any]:
    """Redis down for `seconds` under `rate` req/s: every answer meanwhile is a 5xx, none a 2xx;
    the worker consumes again within 10 s of Redis's return; nothing acknowledged is lost."""
    stack.start(workers=1)
    n = int((seconds + 15) * rate)
    deliveries = plan(n, duplicates=0.0, seed=13)
    t0 = time.monotonic()
    down: dict[str, float] = {}

    async def fault() -> None:
        await asyncio.sleep(5.0)
        down["from"] = time.monotonic()
        stack.redis.kill()
        await asyncio.sleep(seconds)
        down["to"] = time.monotonic()  # redis-server is launched now: answers may be 2xx again
        await asyncio.to_thread(stack.redis.start)

    await asyncio.gather(drive(stack.base_url, deliveries, rate, deadline_s=seconds + 30), fault())
    during = [
        s
        for d in deliveries
        for (sent, got, s) in d.sent
        if sent > down["from"] + 0.5 and got < down["to"]
    ]
    ok_during = sum(1 for s in during if 200 <= s < 300)
    after = sorted(
        (d for d in deliveries if d.acked_at and d.acked_at > down["to"]),
        key=lambda d: d.acked_at or 0.0,
    )
    await settle(stack, DRAIN_S)
    consumed_in = next((t for d in after if (t := _posted_after(stack, d)) is not None), None)
    drained = await settle(stack, DRAIN_S)
    verdict = check(stack, deliveries, drained)
    passed = ok_during == 0 and consumed_in is not None and consumed_in < 10 and verdict.passed
    return {
        "down_s": seconds,
        "rate_per_s": rate,
        "answers_while_down": dict(sorted((str(s), during.count(s)) for s in set(during))),
        "2xx_while_down": ok_during,
        "consumed_again_in_s": consumed_in,
        "elapsed_s": round(time.monotonic() - t0, 1),
        **{k: v for k, v in asdict(verdict).items() if k != "lost"},
        "lost": verdict.lost[:20],
        "passed": passed,
    }


async def poison(stack: Stack, tries: int = 3) -> dict[str, Any]:
    """A handler that hangs: the service it probes accepts connections and never answers. Its
    job must be tried exactly JOB_MAX_TRIES times, then dead-lettered and reported in Slack
    within 60 s, while another incident is handled normally meanwhile."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # connections complete in the backlog and are never read: a hang
    config = stack.tmp / "plantao.toml"
    config.write_text(f'[services.hang]\nurl = "http://127.0.0.1:{hole.getsockname()[1]}"\n')
    stack.extra_env = {
        "PLANTAO_CONFIG": str(config),
        "JOB_TIMEOUT_S": "1",
        "JOB_MAX_TRIES": str(tries),
        "PROBE_TIMEOUT_S": "20",
    }
    try:
        stack.start(workers=1)
        stuck = alertmanager_body("poison", "hang", "ServiceDown", "2026-11-25T04:00:00Z")
        fine = alertmanager_body("healthy", "other", "ServiceDown", "2026-11-25T04:00:00Z")
        deliveries = [
            Delivery("alertmanager", stuck, ["alertmanager:poison"]),
            Delivery("alertmanager", fine, ["alertmanager:healthy"]),
        ]
        t0 = time.time()
        await drive(stack.base_url, deliveries, rate=10.0)
        incident = stack.redis.get("hget", "plantao:alert:alertmanager:poison", "incident").decode()
        reported_in = None
        while time.time() - t0 < 60 and reported_in is None:
            tops = [m for m in stack.slack.top() if "failed" in m.text and "hang" in m.text]
            if tops:
                reported_in = time.time() - t0
            await asyncio.sleep(0.2)
        events = [
            json.loads(raw)["event"]
            for raw in stack.redis.get("lrange", f"plantao:incident:{incident}:timeline", 0, -1)
        ]
        dead = stack.redis.get("exists", f"plantao:deadletter:incident:{incident}:open")
        tried = events.count("job.retry") + events.count("job.dead_lettered")
        other = stack.redis.get("hget", "plantao:alert:alertmanager:healthy", "incident").decode()
        other_ok = bool(stack.redis.get("exists", f"plantao:notified:{other}:opened"))
        passed = tried == tries and bool(dead) and reported_in is not None and other_ok
        return {
            "job_max_tries": tries,
            "tried": tried,
            "dead_lettered": bool(dead),
            "reported_in_s": reported_in,
            "other_incident_handled": other_ok,
            "passed": passed,
        }
    finally:
        hole.close()


def _posted_after(stack: Stack, d: Delivery) -> float | None:
    """Seconds from the delivery's 2xx to its incident's first post, when that incident was
    new (posted after the 2xx); None otherwise."""
    incident = stack.redis.get("hget", f"plantao:alert:{d.fingerprints[0]}", "incident")
    if not incident:
        return None
    key = f"plantao:incident:{incident.decode()}:timeline"
    for raw in stack.redis.get("lrange", key, 0, -1):
        entry = json.loads(raw)
        if entry["event"] == "notified" and entry["at"] / 1000 >= d.acked_wall:
            return float(entry["at"] / 1000 - d.acked_wall)
    return None


SHORT = [
    (2.0, "kill worker"),
    (3.0, "slack 5xx on"),
    (5.0, "kill redis"),
    (6.0, "slack 5xx off"),
    (8.0, "kill worker"),
    (9.0, "slack 429 on"),
    (10.0, "kill api"),
    (11.0, "slack 429 off"),
]
FULL = [
    (10.0, "kill worker"),
    (20.0, "slack 5xx on"),
    (30.0, "kill worker"),
    (50.0, "slack 5xx off"),
    (60.0, "kill redis"),
    (70.0, "kill worker"),
    (80.0, "kill api"),
    (90.0, "slack 429 on"),
    (95.0, "slack 429 off"),
    (100.0, "kill worker"),
    (110.0, "kill worker"),
]


async def run(profile: str, keep: bool) -> dict[str, Any]:
    stack = Stack(keep)
    try:
        match profile:
            case "short":
                return await soak(stack, 1000, 80.0, SHORT)
            case "full":
                return await soak(stack, 10_000, 80.0, FULL)
            case "durability":
                return await durability(stack, 2000)
            case "outage":
                return await outage(stack)
            case "poison":
                return await poison(stack)
        raise ValueError(profile)
    except Exception as exc:
        print(stack.logs()[-6000:], file=sys.stderr)
        raise exc
    finally:
        stack.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chaos/run", description=__doc__)
    p.add_argument(
        "profile",
        nargs="?",
        default="short",
        choices=["short", "durability", "outage", "poison", "full", "ci"],
    )
    p.add_argument("--keep", action="store_true", help="keep the processes' logs")
    args = p.parse_args(argv)
    profiles = (
        ["short", "durability", "outage", "poison"] if args.profile == "ci" else [args.profile]
    )
    RESULTS.mkdir(exist_ok=True)
    ok = True
    for profile in profiles:
        started = time.monotonic()
        result = asyncio.run(run(profile, args.keep))
        result["wall_s"] = round(time.monotonic() - started, 1)
        ok = ok and bool(result["passed"])
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        (RESULTS / f"{profile}-{stamp}.json").write_text(json.dumps(result, indent=2))
        print(f"== chaos {profile}: {'PASSED' if result['passed'] else 'FAILED'}")
        for key, value in result.items():
            print(f"  {key}: {value}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
