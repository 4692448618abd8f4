"""`./chaos/run [short|durability|outage|all] [--keep]`: see chaos/README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos.check import check, settle
from chaos.driver import Delivery, answers, drive, plan
from chaos.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
DRAIN_S = 120.0  # the bound: drained within 120 s of the last fault


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
        choices=["short", "durability", "outage", "full", "ci"],
    )
    p.add_argument("--keep", action="store_true", help="keep the processes' logs")
    args = p.parse_args(argv)
    profiles = ["short", "durability", "outage"] if args.profile == "ci" else [args.profile]
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
