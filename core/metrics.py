"""Prometheus metrics kept in Redis, so every process (api, workers, scheduler) adds to the same
counters: HINCRBY on write, rendered in the text format on scrape (GET /metrics).

Keys (under `plantao:`):
  metrics:counters  hash  "<name>\t<labels JSON>" -> count
  metrics:hist      hash  "<name>\t<labels JSON>\t<le|sum|count>" -> count (sum: float seconds)
Gauges (queue depth, incidents by state, heartbeats ...) are read from the live keys at scrape.
Counting never fails the caller: a metric lost while Redis hiccups is logged, not raised.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from core.models import Incident, IncidentState, Severity

log = structlog.get_logger()
COUNTERS_KEY = "plantao:metrics:counters"
HIST_KEY = "plantao:metrics:hist"
Labels = Mapping[str, str]

# Seconds. Jobs: a probe times out in seconds; people: minutes to hours.
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HUMAN_BUCKETS = (60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0)


@dataclass(frozen=True)
class Metric:
    help: str
    kind: str = "counter"  # counter | histogram
    buckets: tuple[float, ...] = ()


# The registry: every counter and histogram plantão writes, in the order /metrics shows them.
METRICS: dict[str, Metric] = {
    "plantao_alerts_received_total": Metric("Alerts received, by source and outcome"),
    "plantao_jobs_started_total": Metric("Jobs a worker started, by function"),
    "plantao_jobs_finished_total": Metric("Jobs that ended, by function and result"),
    "plantao_jobs_retried_total": Metric("Job tries that ended in a retry, by function"),
    "plantao_jobs_dead_lettered_total": Metric("Jobs that exhausted their tries, by function"),
    "plantao_job_duration_seconds": Metric("Time one job try took", "histogram", JOB_BUCKETS),
    "plantao_actions_proposed_total": Metric("Steps handlers proposed, by scenario and policy"),
    "plantao_actions_total": Metric("Executor decisions, by status and code (refusal reason)"),
    "plantao_actions_verified_total": Metric("Actions re-probed afterwards, by verified"),
    "plantao_replays_total": Metric("Operator replays, by kind (preview, run, redrive)"),
    "plantao_slack_rate_limited_total": Metric("Slack answers 429 (rate limited)"),
    "plantao_time_to_acknowledge_seconds": Metric(
        "From first alert to acknowledgement, by severity", "histogram", HUMAN_BUCKETS
    ),
    "plantao_time_to_mitigate_seconds": Metric(
        "From first alert to its first monitoring or resolution (by a person or by its alerts), "
        "by severity",
        "histogram",
        HUMAN_BUCKETS,
    ),
}


@dataclass
class Gauge:
    """A value read at scrape time; samples are (labels, value)."""

    name: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


def _field(name: str, labels: Labels | None) -> str:
    return f"{name}\t{json.dumps(dict(sorted((labels or {}).items())))}"


async def count(redis: ArqRedis, name: str, labels: Labels | None = None, by: int = 1) -> None:
    """Add `by` to a counter of METRICS."""
    if name not in METRICS:
        raise KeyError(f"unknown metric {name}: add it to core.metrics.METRICS")
    if by == 0:
        return
    try:
        await redis.hincrby(COUNTERS_KEY, _field(name, labels), by)  # type: ignore[misc]
    except (RedisError, OSError) as exc:
        log.warning("metrics.lost", metric=name, error=str(exc))


async def observe(redis: ArqRedis, name: str, value: float, labels: Labels | None = None) -> None:
    """Record one observation in a histogram of METRICS."""
    metric = METRICS[name]
    le = next((b for b in metric.buckets if value <= b), math.inf)
    base = _field(name, labels)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(HIST_KEY, f"{base}\t{_le(le)}", 1)
            pipe.hincrbyfloat(HIST_KEY, f"{base}\tsum", value)
            pipe.hincrby(HIST_KEY, f"{base}\tcount", 1)
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("metrics.lost", metric=name, error=str(exc))


async def observe_transition(redis: ArqRedis, before: Incident, after: Incident) -> None:
    """Time to acknowledge and time to mitigate, observed when an incident changes state."""
    labels = {"severity": after.severity.value}
    now = datetime.now(UTC)
    if after.state is IncidentState.ACKNOWLEDGED and before.acknowledged_at is None:
        at = after.acknowledged_at or now
        await observe(redis, "plantao_time_to_acknowledge_seconds", _since(after, at), labels)
    mitigated = after.state is IncidentState.MONITORING or (
        after.state is IncidentState.RESOLVED and before.state is not IncidentState.MONITORING
    )
    if mitigated and await _first_mitigation(redis, after.id, now):
        await observe_mitigated(redis, after.severity, _since(after, now))


async def observe_mitigated(redis: ArqRedis, severity: Severity, seconds: float) -> None:
    """One incident's time to mitigate: by a responder or job (above), or by itself when its
    alerts resolved (core/ingest.lua, which claims `mitigated_at` the same way)."""
    labels = {"severity": severity.value}
    await observe(redis, "plantao_time_to_mitigate_seconds", seconds, labels)


async def _first_mitigation(redis: ArqRedis, incident_id: str, now: datetime) -> bool:
    """Claim the incident's one time-to-mitigate observation (monitoring -> mitigating ->
    monitoring, or a reopened incident, is not mitigated twice)."""
    at_ms = int(now.timestamp() * 1000)
    try:
        key = f"plantao:incident:{incident_id}"
        return bool(await redis.hsetnx(key, "mitigated_at", str(at_ms)))  # type: ignore[misc]
    except (RedisError, OSError) as exc:
        log.warning("metrics.lost", metric="plantao_time_to_mitigate_seconds", error=str(exc))
        return False


def _since(incident: Incident, at: datetime) -> float:
    return max(0.0, (at - incident.first_seen).total_seconds())


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


async def render(redis: ArqRedis, gauges: Sequence[Gauge] = ()) -> str:
    """Every metric in the Prometheus text format (version 0.0.4)."""
    counters = await redis.hgetall(COUNTERS_KEY)  # type: ignore[misc]
    hist = await redis.hgetall(HIST_KEY)  # type: ignore[misc]
    by_name: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for raw, value in counters.items():
        name, labels = raw.decode().split("\t")
        by_name[name].append((json.loads(labels), float(value)))
    series: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for raw, value in hist.items():
        name, labels, part = raw.decode().split("\t")
        series[name][labels][part] = float(value)
    lines: list[str] = []
    for name, metric in METRICS.items():
        lines += [f"# HELP {name} {metric.help}", f"# TYPE {name} {metric.kind}"]
        if metric.kind == "counter":
            for labels, value in sorted(by_name.get(name, []), key=lambda s: sorted(s[0].items())):
                lines.append(f"{name}{_labels(labels)} {_number(value)}")
            continue
        for raw_labels, parts in sorted(series.get(name, {}).items()):
            labels = json.loads(raw_labels)
            running = 0.0
            for bound in (*metric.buckets, math.inf):
                running += parts.get(_le(bound), 0.0)
                bucket = {**labels, "le": _le(bound)}
                lines.append(f"{name}_bucket{_labels(bucket)} {_number(running)}")
            lines.append(f"{name}_sum{_labels(labels)} {_number(parts.get('sum', 0.0))}")
            lines.append(f"{name}_count{_labels(labels)} {_number(parts.get('count', 0.0))}")
    for gauge in gauges:
        lines += [f"# HELP {gauge.name} {gauge.help}", f"# TYPE {gauge.name} gauge"]
        for labels, value in gauge.samples:
            lines.append(f"{gauge.name}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


async def count_proposed(redis: ArqRedis, incident: Incident, step: object) -> None:
    """One step a handler proposed (`step` is a handlers.types.Step; core cannot import it)."""
    policy = str(getattr(step, "policy", ""))
    labels = {"scenario": incident.scenario.value, "policy": policy}
    await count(redis, "plantao_actions_proposed_total", labels)


async def count_action(redis: ArqRedis, status: str, code: str, verified: bool | None) -> None:
    """One executor decision: run, refused (the code is the reason), dry run ...; and whether
    the action verified, when it was re-probed."""
    await count(redis, "plantao_actions_total", {"status": status, "code": code})
    if verified is not None:
        labels = {"verified": "true" if verified else "false"}
        await count(redis, "plantao_actions_verified_total", labels)


ALERT_OUTCOMES = ("accepted", "duplicates", "silenced", "suppressed")


@functools.cache
def alert_counter_fields(source: str) -> str:
    """The hash fields of plantao_alerts_received_total for one source, by outcome, as the JSON
    core/ingest.lua takes: a delivery's alerts are counted in the atomic step that stores them
    (no second round trip, and nothing counted that was not stored)."""
    fields = {
        outcome: _field("plantao_alerts_received_total", {"source": source, "outcome": outcome})
        for outcome in ALERT_OUTCOMES
    }
    return json.dumps(fields)
