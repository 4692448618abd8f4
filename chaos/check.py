"""The checker: joins what the driver got acknowledged with what plantão holds in Redis and
what the Slack stub received.

"Final state" of an acknowledged alert: its fingerprint's record names an incident that exists;
that incident was announced to Slack (its `opened` notice recorded, or it is silenced); no job is
queued or in progress and the Slack outbox is empty."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from chaos.driver import Delivery
from chaos.stack import Stack

QUEUE = "arq:queue"


@dataclass
class Verdict:
    acked: int = 0
    not_acked: int = 0
    lost: list[str] = field(default_factory=list)  # acknowledged fingerprints with no incident
    unannounced: list[str] = field(default_factory=list)  # incidents never posted
    duplicate_posts: dict[str, int] = field(default_factory=dict)  # incident -> top posts
    refused_4xx: int = 0  # answers 4xx (never right for a well-formed, authenticated delivery)
    acked_after_5xx: int = 0  # deliveries that got a 5xx or no answer first, then a 2xx
    incidents: int = 0
    top_posts: int = 0
    queued_jobs: int = 0
    outbox: int = 0
    drained_in_s: float | None = None

    @property
    def passed(self) -> bool:
        return not (
            self.lost
            or self.unannounced
            or self.duplicate_posts
            or self.refused_4xx
            or self.queued_jobs
            or self.outbox
            or self.drained_in_s is None
        )


def _drained(stack: Stack) -> bool:
    r = stack.redis
    busy = r.get("zcard", QUEUE) or r.get("zcard", "plantao:outbox:queue")
    return not busy and not list(r.client.scan_iter(match="arq:in-progress:*", count=1000))


def _incident_ids(stack: Stack) -> list[str]:
    ids = []
    for key in stack.redis.client.scan_iter(match="plantao:incident:*", count=1000):
        parts = key.decode().split(":")
        if len(parts) == 3:
            ids.append(parts[2])
    return ids


def _announced(stack: Stack, incident: str) -> bool:
    r = stack.redis
    if r.get("exists", f"plantao:notified:{incident}:opened"):
        return True
    silenced = r.get("hget", f"plantao:incident:{incident}", "silenced_by")
    return bool(silenced)


async def settle(stack: Stack, within_s: float) -> float | None:
    """Wait until the queue, the jobs in progress and the outbox are empty and every incident is
    announced; the seconds it took, or None if not within `within_s`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within_s:
        try:
            ids = _incident_ids(stack)
            if _drained(stack) and all(_announced(stack, i) for i in ids):
                return time.monotonic() - t0
        except Exception:  # noqa: BLE001 - Redis may be restarting: look again
            pass
        await asyncio.sleep(0.5)
    return None


def check(stack: Stack, deliveries: list[Delivery], drained_in_s: float | None) -> Verdict:
    v = Verdict(drained_in_s=drained_in_s)
    r = stack.redis
    for d in deliveries:
        v.refused_4xx += sum(1 for s in d.statuses if 400 <= s < 500)
        if not d.acked:
            v.not_acked += 1
            continue
        v.acked += 1
        if len(d.statuses) > 1:
            v.acked_after_5xx += 1
        for fp in d.fingerprints:
            incident = r.get("hget", f"plantao:alert:{fp}", "incident")
            if not incident or not r.get("exists", f"plantao:incident:{incident.decode()}"):
                v.lost.append(fp)
    ids = _incident_ids(stack)
    v.incidents = len(ids)
    v.unannounced = [i for i in ids if not _announced(stack, i)]
    tops = Counter(
        str(m.metadata["event_payload"]["incident"])
        for m in stack.slack.top()
        if m.metadata and m.metadata.get("event_payload", {}).get("incident")
    )
    v.top_posts = sum(tops.values())
    v.duplicate_posts = {i: n for i, n in tops.items() if n > 1}
    v.queued_jobs = int(r.get("zcard", QUEUE))
    v.outbox = int(r.get("zcard", "plantao:outbox:queue"))
    return v
