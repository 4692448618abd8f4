"""A load driver that behaves like Alertmanager: deliveries leave at a fixed rate; a 5xx, a
time-out or a refused connection is retried with back-off (0.25 s doubling to 2 s) until the
delivery's deadline; a 2xx is never retried; every outcome is recorded."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.support.senders import AM_TOKEN, railway, sentry

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
# Requests on the wire at once. More wait in a semaphore: httpcore's pool scans its waiting
# requests on every hand-off, which at thousands waiting starved this driver's own loop (the
# api sat idle while the driver timed out its own requests).
IN_FLIGHT = 64
SENTRY_ISSUE = json.loads((FIXTURES / "sentry" / "docs-issue-created.json").read_text())


@dataclass
class Delivery:
    source: str  # alertmanager | sentry | railway
    body: bytes
    fingerprints: list[str]  # as plantão names them (source prefix included)
    statuses: list[int] = field(default_factory=list)  # every answer; 0 = no answer
    sent: list[tuple[float, float, int]] = field(default_factory=list)  # (sent, answered, status)
    acked_at: float | None = None  # time.monotonic()
    acked_wall: float = 0.0  # time.time(), to compare with plantão's timeline

    @property
    def acked(self) -> bool:
        return self.acked_at is not None


def alertmanager_body(fp: str, service: str, name: str, starts: str) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": name, "service": service, "severity": "critical"},
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fp,
    }
    body = {"version": "4", "status": "firing", "receiver": "plantao", "groupKey": fp}
    return json.dumps({**body, "alerts": [alert]}).encode()


def _sentry(issue_id: str, project: str) -> bytes:
    data = json.loads(json.dumps(SENTRY_ISSUE))
    issue = data["data"]["issue"]
    issue["id"] = issue_id
    issue["project"] = {**issue.get("project", {}), "slug": project, "name": project}
    return json.dumps(data).encode()


def plan(
    n: int,
    storm: int = 50,
    duplicates: float = 0.2,
    seed: int = 7,
    railway_bodies: Sequence[tuple[bytes, str]] = (),
) -> list[Delivery]:
    """`n` deliveries: Alertmanager and Sentry alerts, `storm` fingerprints re-sent all along,
    a `duplicates` share of byte-identical repeats of earlier deliveries, and (when given)
    Railway `(body, fingerprint)` deliveries: the first of each spread evenly over the run,
    then 3 % re-sends of those already sent."""
    rng = random.Random(seed)
    names = ["ServiceDown", "HighErrorRate", "HighLatency", "DatabaseDown"]
    out: list[Delivery] = []
    railway_sent: list[tuple[bytes, str]] = []
    firsts = {int((j + 0.5) * n / len(railway_bodies)): j for j in range(len(railway_bodies))}
    for i in range(n):
        roll = rng.random()
        if i in firsts:
            body, fp = railway_bodies[firsts[i]]
            out.append(Delivery("railway", body, [fp]))
            railway_sent.append((body, fp))
        elif railway_sent and roll > 0.97:
            body, fp = rng.choice(railway_sent)
            out.append(Delivery("railway", body, [fp]))
        elif out and roll < duplicates:  # may repeat a Railway one too
            first = rng.choice(out)
            out.append(Delivery(first.source, first.body, first.fingerprints))
        elif roll < duplicates + 0.15:
            k = rng.randrange(storm)
            body = alertmanager_body(
                f"storm{k}", f"storm-{k % 10}", names[k % 4], "2026-11-25T04:00:00Z"
            )
            out.append(Delivery("alertmanager", body, [f"alertmanager:storm{k}"]))
        elif roll < duplicates + 0.3:
            issue = f"9{i:06d}"
            body = _sentry(issue, f"proj-{i % 7}")
            out.append(Delivery("sentry", body, [f"sentry:issue:{issue}"]))
        else:
            fp = f"a{i:06d}"
            body = alertmanager_body(
                fp, f"svc-{i % 25}", names[i % 4], f"2026-11-25T04:{i % 60:02d}:00Z"
            )
            out.append(Delivery("alertmanager", body, [f"alertmanager:{fp}"]))
    return out


def distinct(n: int) -> list[Delivery]:
    """`n` deliveries, each a new alert: 4 of 5 from Alertmanager, 1 of 5 from Sentry."""
    out = []
    for i in range(n):
        if i % 5 == 4:
            issue = f"8{i:06d}"
            body = _sentry(issue, f"proj-{i % 7}")
            out.append(Delivery("sentry", body, [f"sentry:issue:{issue}"]))
        else:
            body = alertmanager_body(
                f"d{i:06d}", f"svc-{i % 25}", "HighErrorRate", "2026-11-25T04:00:00Z"
            )
            out.append(Delivery("alertmanager", body, [f"alertmanager:d{i:06d}"]))
    return out


async def _send(
    client: httpx.AsyncClient, d: Delivery, deadline_s: float, gate: asyncio.Semaphore
) -> None:
    give_up = time.monotonic() + deadline_s
    wait = 0.25
    while True:
        if d.source == "sentry":
            req = sentry(d.body)
            path, headers = req.path, req.headers
        elif d.source == "railway":
            req = railway(d.body)
            path, headers = f"{req.path}?{urlencode(req.query)}", req.headers
        else:
            path = "/webhooks/alertmanager"
            headers = [
                ("Content-Type", "application/json"),
                ("Authorization", f"Bearer {AM_TOKEN}"),
            ]
        async with gate:
            started = time.monotonic()
            sent = await _post(client, path, d.body, headers)
        if isinstance(sent, httpx.Response):
            response = sent
            d.statuses.append(response.status_code)
            d.sent.append((started, time.monotonic(), response.status_code))
            if response.status_code < 300:
                d.acked_at, d.acked_wall = time.monotonic(), time.time()
                return
            if response.status_code < 500:
                return  # a 4xx is not retried: the checker reports it
        else:
            d.statuses.append(0)
            d.sent.append((started, time.monotonic(), 0))
        if time.monotonic() + wait > give_up:
            return
        await asyncio.sleep(wait)
        wait = min(wait * 2, 2.0)


async def _post(
    client: httpx.AsyncClient, path: str, body: bytes, headers: list[tuple[str, str]]
) -> httpx.Response | None:
    """One try: the answer, or None when there was none (refused, reset, timed out)."""
    try:
        return await client.post(path, content=body, headers=headers)
    except httpx.TransportError:
        return None


async def drive(
    base_url: str, deliveries: list[Delivery], rate: float, deadline_s: float = 90.0
) -> None:
    """Send every delivery at `rate` per second (open loop), each retried until `deadline_s`."""
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    gate = asyncio.Semaphore(IN_FLIGHT)  # waiting requests queue here, not in httpcore's pool
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0, limits=limits) as client:
        t0 = time.monotonic()
        tasks = []
        for i, d in enumerate(deliveries):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(client, d, deadline_s, gate)))
        await asyncio.gather(*tasks)


def answers(deliveries: list[Delivery]) -> dict[str, int]:
    """How every answer went: 2xx, 4xx, 5xx, or no answer (connection error / time-out)."""
    kinds: Counter[str] = Counter()
    for d in deliveries:
        for s in d.statuses:
            kinds["no answer" if s == 0 else f"{s // 100}xx"] += 1
    return dict(kinds)
