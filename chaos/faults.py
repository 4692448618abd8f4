"""The fault driver: faults at fixed times from the start of a soak (worker, api and Redis
SIGKILLs, Slack 5xx and 429s, a worker SIGKILLed while Railway holds its rollback)."""

from __future__ import annotations

import asyncio
import time

from chaos.remediation import Remediation
from chaos.stack import Stack

MID_ROLLBACK_WAIT_S = 20.0  # how long "kill worker mid-rollback" waits for a rollback to hold


async def run_faults(
    stack: Stack, schedule: list[tuple[float, str]], log: list[str], remediation: Remediation
) -> float:
    """Each fault at its time (a fault that waits delays the ones after it); `log` gets what
    happened when. Returns when the last fault was over (time.monotonic())."""
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
            case "kill worker mid-rollback":
                log[-1] += await _kill_mid_rollback(stack, remediation)
    return time.monotonic()


async def _kill_mid_rollback(stack: Stack, remediation: Remediation) -> str:
    """Hold the next rollback at the Railway fake, SIGKILL the worker waiting for its answer,
    then let Railway carry it out: the caller is gone, the rollback happened (a worker killed
    mid-remediation). Returns what happened, for the fault log."""
    gate = remediation.railway.hold("deploymentRollback")
    try:
        held = await asyncio.to_thread(gate.received.wait, MID_ROLLBACK_WAIT_S)
        await asyncio.to_thread(stack.kill_worker)
    finally:
        gate.release()
    if not held:
        return f": no rollback within {MID_ROLLBACK_WAIT_S:.0f} s, killed anyway"
    applied = await asyncio.to_thread(gate.applied.wait, 10.0)
    return " (held rollback applied after the kill)" if applied else " (rollback not applied)"


SHORT = [
    (2.0, "kill worker"),
    (3.0, "slack 5xx on"),
    (5.0, "kill redis"),
    (6.0, "slack 5xx off"),
    (7.0, "kill worker mid-rollback"),
    (9.0, "slack 429 on"),
    (10.0, "kill api"),
    (11.0, "slack 429 off"),
]
FULL = [
    (10.0, "kill worker"),
    (20.0, "slack 5xx on"),
    (30.0, "kill worker mid-rollback"),
    (50.0, "slack 5xx off"),
    (60.0, "kill redis"),
    (70.0, "kill worker"),
    (80.0, "kill api"),
    (90.0, "slack 429 on"),
    (95.0, "slack 429 off"),
    (100.0, "kill worker mid-rollback"),
    (110.0, "kill worker"),
]
