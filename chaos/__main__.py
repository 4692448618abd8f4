"""`./chaos/run [short|durability|outage|poison|full|ci] [--keep]`: see chaos/README.md."""

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
from chaos.driver import Delivery, alertmanager_body, answers, distinct, drive, plan
from chaos.faults import FULL, SHORT, run_faults
from chaos.remediation import Remediation
from chaos.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
FAILING_ALERT = "FrontendDown"  # frontend_down: the handler chaos/failing_worker.py breaks
OUTAGE_FIELDS = ("acked", "not_acked", "refused_4xx", "incidents", "top_posts", "drained_in_s")
TARGET_DRAIN_S = 120.0  # the bound: drained within 120 s of the last fault
# How long the checker waits for the drain: past the target, so a miss is measured, not only
# failed (a job whose worker was SIGKILLed runs again within WORKER_JOB_LEASE_S, 20 s).
DRAIN_S = 200.0


async def soak(
    stack: Stack, n: int, rate: float, schedule: list[tuple[float, str]]
) -> dict[str, Any]:
    """Deliveries at `rate` while the faults of `schedule` happen; then drain and check."""
    remediation = Remediation()
    try:
        config = stack.tmp / "plantao.toml"
        config.write_text(remediation.config_toml())
        stack.extra_env = {
            **remediation.env(),
            "PLANTAO_CONFIG": str(config),
            "DRY_RUN": "false",
            "SLACK_SIGNING_SECRET": "chaos-signing-secret",
        }
        stack.start(workers=1)
        deliveries = plan(n, railway_bodies=remediation.deliveries())
        faults: list[str] = []
        driving = drive(stack.base_url, deliveries, rate)
        _, last_fault = await asyncio.gather(
            driving, run_faults(stack, schedule, faults, remediation)
        )
        since_fault = time.monotonic() - last_fault  # the last delivery came after it
        drained = await settle(stack, DRAIN_S)
        after_fault = None if drained is None else round(since_fault + drained, 1)
        verdict = check(stack, deliveries, drained, remediation)
    finally:
        remediation.close()
    return {
        "drained_after_last_fault_s": after_fault,
        "drained_within_120_s": after_fault is not None and after_fault <= TARGET_DRAIN_S,
        "deliveries": n,
        "rate_per_s": rate,
        "faults": faults,
        "answers": answers(deliveries),
        **asdict(verdict),
        "lost": verdict.lost[:20],
        "checks": verdict.table(TARGET_DRAIN_S, since_fault),
        "passed": verdict.passed and after_fault is not None and after_fault <= TARGET_DRAIN_S,
    }


async def durability(stack: Stack, n: int) -> dict[str, Any]:
    """`n` distinct acknowledged alerts (Alertmanager and Sentry, no worker running), Redis
    SIGKILLed right after the last 2xx and restarted: is every alert there, naming an incident
    that exists and whose job is still queued?"""
    stack.start(workers=0)
    deliveries = distinct(n)
    await drive(stack.base_url, deliveries, rate=400.0, deadline_s=30.0)
    stack.redis.kill()  # kill -9 right after the last answer
    await asyncio.to_thread(stack.redis.start)
    acked = [fp for d in deliveries if d.acked for fp in d.fingerprints]
    r = stack.redis
    incidents = {fp: r.get("hget", f"plantao:alert:{fp}", "incident") for fp in acked}
    present = [fp for fp, i in incidents.items() if i is not None]
    ids = {i.decode() for i in incidents.values() if i is not None}
    missing_incident = [i for i in ids if not r.get("exists", f"plantao:incident:{i}")]
    missing_job = [i for i in ids if not r.get("exists", f"arq:job:incident:{i}:open")]
    return {
        "deliveries": n,
        "acked": len(acked),
        "answers": answers(deliveries),
        "present_after_kill": len(present),
        "incidents": len(ids),
        "incidents_missing": missing_incident[:20],
        "jobs_missing": missing_job[:20],
        "passed": len(present) == len(acked) == n and not missing_incident and not missing_job,
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
        **{k: v for k, v in asdict(verdict).items() if k in OUTAGE_FIELDS},
        "lost": verdict.lost[:20],
        "passed": passed,
    }


async def poison(stack: Stack, tries: int = 3) -> dict[str, Any]:
    """A handler that hangs (the service it probes accepts connections and never answers) and
    one that raises (chaos/failing_worker.py): each job is tried exactly JOB_MAX_TRIES times,
    then dead-lettered and reported in Slack within 60 s, while another incident is handled
    normally meanwhile."""
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
    stack.worker_module = "chaos.failing_worker"
    try:
        stack.start(workers=1)
        poisoned = {
            "hang": alertmanager_body("hang", "hang", "ServiceDown", "2026-11-25T04:00:00Z"),
            "broken": alertmanager_body("broken", "broken", FAILING_ALERT, "2026-11-25T04:00:00Z"),
        }
        fine = alertmanager_body("healthy", "other", "ServiceDown", "2026-11-25T04:00:00Z")
        deliveries = [
            Delivery("alertmanager", b, [f"alertmanager:{k}"]) for k, b in poisoned.items()
        ]
        deliveries.append(Delivery("alertmanager", fine, ["alertmanager:healthy"]))
        t0 = time.time()
        await drive(stack.base_url, deliveries, rate=10.0)
        reported: dict[str, float] = {}
        while time.time() - t0 < 60 and len(reported) < len(poisoned):
            for m in stack.slack.top():
                for service in poisoned:
                    if "failed" in m.text and service in m.text and service not in reported:
                        reported[service] = round(time.time() - t0, 1)
            await asyncio.sleep(0.2)
        results = {service: _poisoned(stack, service, tries, reported) for service in poisoned}
        other = stack.redis.get("hget", "plantao:alert:alertmanager:healthy", "incident").decode()
        other_ok = bool(stack.redis.get("exists", f"plantao:notified:{other}:opened"))
        return {
            "job_max_tries": tries,
            **results,
            "other_incident_handled": other_ok,
            "passed": other_ok and all(r["passed"] for r in results.values()),
        }
    finally:
        hole.close()


def _poisoned(stack: Stack, service: str, tries: int, reported: dict[str, float]) -> dict[str, Any]:
    """How the poisoned incident of `service` went: tries, dead letter, report."""
    incident = stack.redis.get("hget", f"plantao:alert:alertmanager:{service}", "incident").decode()
    events = [
        json.loads(raw)["event"]
        for raw in stack.redis.get("lrange", f"plantao:incident:{incident}:timeline", 0, -1)
    ]
    dead = bool(stack.redis.get("exists", f"plantao:deadletter:incident:{incident}:open"))
    tried = events.count("job.retry") + events.count("job.dead_lettered")
    at = reported.get(service)
    return {
        "tried": tried,
        "dead_lettered": dead,
        "reported_in_s": at,
        "passed": tried == tries and dead and at is not None and at < 60,
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
        if keep:
            print(f"logs kept in {stack.tmp}", file=sys.stderr)


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
            if key != "checks":
                print(f"  {key}: {value}")
        for name, measured, verdict in result.get("checks", []):
            print(f"  {verdict:4}  {name:40} {measured}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
