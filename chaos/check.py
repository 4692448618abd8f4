"""The checker: joins what the driver got acknowledged with what plantão holds in Redis and
what the Slack stub received.

"Final state" of an acknowledged alert: its fingerprint's record names an incident that exists;
that incident was announced to Slack (its `opened` notice recorded, or it is silenced); no job is
queued or in progress and the Slack outbox is empty."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from chaos.driver import Delivery
from chaos.remediation import Remediation
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
    # remediation (chaos/remediation.py): mutations the Railway fake received, per service
    railway_mutations: dict[str, int] = field(default_factory=dict)
    railway_duplicates: dict[str, int] = field(default_factory=dict)  # service -> mutations > 1
    rolled_back: int = 0  # services the fake shows rolled back
    rollbacks_expected: int = 0  # services with an acknowledged Railway delivery
    # plantão's own record of its rollback steps (worker/ledger.py), by state: reported only
    rollback_records: dict[str, int] = field(default_factory=dict)
    # deploy_failed top-level messages, by what they say of the rollback: reported only
    rollback_posts: dict[str, int] = field(default_factory=dict)

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
            or self.railway_duplicates
            or self.rolled_back < self.rollbacks_expected
            or self.rollbacks_unsettled
            or self.rollbacks_untold
        )

    @property
    def rollbacks_unsettled(self) -> int:
        """Rollback records not `done`: a killed attempt left in flight and never settled."""
        return sum(n for state, n in self.rollback_records.items() if state != "done")

    @property
    def rollbacks_untold(self) -> int:
        """deploy_failed messages that do not say what became of the rollback."""
        return self.rollback_posts.get("not mentioned", 0)

    def table(self, target_drain_s: float, since_fault_s: float) -> list[tuple[str, str, str]]:
        """(criterion, measured, PASS / FAIL). `drained_in_s` counts from the last delivery,
        `since_fault_s` before it from the last fault."""
        drained = "never" if self.drained_in_s is None else f"{self.drained_in_s:.1f} s"
        rows = [
            ("acknowledged alerts lost", f"{len(self.lost)} of {self.acked}", not self.lost),
            ("incidents never announced", str(len(self.unannounced)), not self.unannounced),
            (
                "duplicate top-level Slack posts",
                f"{sum(n - 1 for n in self.duplicate_posts.values())} ({self.top_posts} posts,"
                f" {self.incidents} incidents)",
                not self.duplicate_posts,
            ),
            (
                "duplicate side effects at Railway",
                str(sum(n - 1 for n in self.railway_duplicates.values())),
                not self.railway_duplicates,
            ),
            (
                "services rolled back",
                f"{self.rolled_back} of {self.rollbacks_expected}",
                self.rolled_back >= self.rollbacks_expected,
            ),
            (
                "rollback records settled (done)",
                f"{self.rollbacks_unsettled} not done {self.rollback_records}",
                not self.rollbacks_unsettled,
            ),
            (
                "deploy_failed posts saying what was done",
                f"{self.rollbacks_untold} silent {self.rollback_posts}",
                not self.rollbacks_untold,
            ),
            ("4xx answers", str(self.refused_4xx), not self.refused_4xx),
            (
                "drained (after the last delivery)",
                drained,
                self.drained_in_s is not None,
            ),
        ]
        out = [(name, got, "PASS" if ok else "FAIL") for name, got, ok in rows]
        after = None if self.drained_in_s is None else self.drained_in_s + since_fault_s
        within = after is not None and after <= target_drain_s
        label = f"drained within {target_drain_s:.0f} s of the last fault"
        got = "never" if after is None else f"{after:.1f} s"
        out.append((label, got, "PASS" if within else "FAIL"))
        return out


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


def check(
    stack: Stack,
    deliveries: list[Delivery],
    drained_in_s: float | None,
    remediation: Remediation | None = None,
) -> Verdict:
    v = Verdict(drained_in_s=drained_in_s)
    r = stack.redis
    if remediation is not None:
        v.railway_mutations = remediation.side_effects()
        v.railway_duplicates = {k: n for k, n in v.railway_mutations.items() if n > 1}
        v.rolled_back = remediation.healed()
        states = Counter(
            (r.get("hget", key, "state") or b"?").decode()
            for key in r.client.scan_iter(match="plantao:action:*:RollbackDeploy:*", count=1000)
        )
        v.rollback_records = dict(states)
        v.rollbacks_expected = len(
            {fp for d in deliveries if d.acked and d.source == "railway" for fp in d.fingerprints}
        )
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
    v.rollback_posts = _rollback_posts(stack)
    v.duplicate_posts = {i: n for i, n in tops.items() if n > 1}
    v.queued_jobs = int(r.get("zcard", QUEUE))
    v.outbox = int(r.get("zcard", "plantao:outbox:queue"))
    return v


def _rollback_posts(stack: Stack) -> dict[str, int]:
    """What each deploy_failed top-level message says of its rollback: the outcome's code
    ("[executed] roll back ..."), "proposed" (the step without an outcome), or "not mentioned"
    (a re-run that found the service healthy plans advice only)."""
    said: Counter[str] = Counter()
    for m in stack.slack.top():
        if "deploy_failed" not in m.text:
            continue
        blocks = json.dumps(m.blocks)
        codes = re.findall(r"(?<!\*)\[(\w+)\] roll back", blocks)
        said[codes[0] if codes else "proposed" if "roll back" in blocks else "not mentioned"] += 1
    return dict(said)
