"""GET /metrics: Prometheus text format. Counters and histograms come from Redis (core/metrics.py,
shared by every process); gauges are read from the live keys at each scrape.

Open like /health/deep (counts only, no incident text or secrets); restrict it at the network
edge if that matters to you.
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from core import metrics, outbox
from core.metrics import Gauge
from core.queue import IN_PROGRESS_KEY_PREFIX, queue_depth
from core.store import redis_errors
from core.switches import FREEZE, PAUSE, Switches

router = APIRouter(tags=["health"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
INCIDENTS_SCANNED = 5000  # incidents by state/severity/scenario: the newest this many
ROLES = ("worker", "scheduler")


@router.get("/metrics", response_class=PlainTextResponse)
async def scrape(request: Request) -> PlainTextResponse:
    deps = request.app.state.deps
    redis, store = deps.redis, deps.store
    async with redis_errors():
        running = 0
        async for _ in redis.scan_iter(match=f"{IN_PROGRESS_KEY_PREFIX}*", count=500):
            running += 1
        gauges = [
            Gauge(
                "plantao_jobs_queued", "Jobs waiting in the queue", [({}, await queue_depth(redis))]
            ),
            Gauge("plantao_jobs_running", "Jobs a worker is running now", [({}, running)]),
            Gauge(
                "plantao_dead_letters",
                "Jobs that exhausted their tries, waiting for a re-drive",
                [({}, len(await store.dead_letters()))],
            ),
        ]
        incidents = await store.incidents(await store.incident_ids(INCIDENTS_SCANNED))
        by_kind = Counter((i.state.value, i.severity.value, i.scenario.value) for i in incidents)
        open_escalated = Counter(
            str(i.escalation) for i in incidents if i.state.value != "resolved"
        )
        switches = Switches(redis)
        switch_on = [
            ({"switch": name}, float(await switches.get(name) is not None))
            for name in (PAUSE, FREEZE)
        ]
    gauges.append(
        Gauge(
            "plantao_incidents",
            f"Incidents by state, severity and scenario (the newest {INCIDENTS_SCANNED})",
            [
                ({"state": st, "severity": sev, "scenario": sc}, n)
                for (st, sev, sc), n in sorted(by_kind.items())
            ],
        )
    )
    gauges.append(
        Gauge(
            "plantao_open_incidents_by_escalation",
            "Open incidents by escalation level (0 none, 1 engineer, 2 incident commander)",
            [({"level": lvl}, n) for lvl, n in sorted(open_escalated.items())],
        )
    )
    beats = []
    for role in ROLES:
        age = await store.heartbeat_age_s(role)
        if age is not None:
            beats.append(({"role": role}, age))
    gauges.append(
        Gauge("plantao_heartbeat_age_seconds", "Seconds since the freshest beat of a role", beats)
    )
    gauges.append(Gauge("plantao_switch_on", "1 while an operator switch is on", switch_on))
    slack = await outbox.backlog(redis)
    gauges.append(
        Gauge(
            "plantao_slack_outbox",
            "Slack outbox items: queued (waiting to be sent) and dead (refused by Slack)",
            [({"state": "queued"}, slack.queued), ({"state": "dead"}, slack.dead)],
        )
    )
    gauges.append(
        Gauge(
            "plantao_slack_hold_seconds",
            "Seconds Slack's Retry-After still holds the outbox",
            [({}, slack.held_for_s)],
        )
    )
    text = await metrics.render(redis, gauges)
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
