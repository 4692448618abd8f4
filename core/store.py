"""The Redis-backed incident store: atomic intake, incidents, timelines, notices, dead letters.

Key layout (all under `plantao:`; schema 1):
  incident:{id}              hash   the incident (see core.models.Incident)
  incident:{id}:timeline     list   JSON TimelineEntry, capped at the newest `timeline_max` entries
  incident:{id}:firing       set    fingerprints of its alerts still firing
  open:{scenario}|{service}  string the open incident of that group
  alert:{fingerprint}        hash   last status and start seen (the dedup record), 30 days
  incidents                  zset   incident ids by first seen
  notified:{id}:{kind}       string a Slack message of that kind went out
  deadletters                zset   job ids that exhausted their tries, by time
  deadletter:{job_id}        hash   function, args, tries, error
  heartbeat:{role}           hash   instance -> last beat (ms)
  deploys:{service}          zset   successful deployment ids by time (the newest 100)
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from core.errors import StoreUnavailable
from core.models import Alert, Classification, Incident, TimelineEntry
from core.queue import JOB_EXPIRES_MS, QUEUE_NAME

P = "plantao:"
ALERT_TTL_S = 30 * 24 * 3600  # how long a fingerprint's last status is remembered for dedup
_INGEST = (Path(__file__).parent / "ingest.lua").read_text(encoding="utf-8")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dt(ms: str | bytes | int | float) -> datetime:
    return datetime.fromtimestamp(int(float(ms)) / 1000, UTC)


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Translate any Redis failure into StoreUnavailable (503 at the edge, retry in a job)."""
    try:
        yield
    except RedisError as exc:
        raise StoreUnavailable(f"Redis unavailable: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise StoreUnavailable(f"Redis unavailable: {exc}") from exc


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    incidents: list[str]


def group_key(alert: Alert, found: Classification) -> str:
    """Alerts of one scenario on one service form one incident while it is open."""
    return f"{found.scenario}|{alert.service}"


def _record(alert: Alert, found: Classification) -> dict[str, object]:
    state = "firing" if alert.firing else "resolved"
    return {
        "fp": alert.fingerprint,
        "firing": alert.firing,
        "starts": alert.starts_at,
        "group": group_key(alert, found),
        "service": alert.service,
        "scenario": found.scenario.value,
        "severity": found.severity.value,
        "summary": alert.summary,
        "rule": found.rule,
        "why": found.why,
        "source": alert.source.value,
        "link": alert.link,
        "labels": json.dumps(alert.labels, sort_keys=True),
        "detail": f"{alert.name} {state} ({alert.fingerprint}); {found.why}",
        "unsigned": not alert.signed,
        "deployment": alert.deployment,
    }


class Store:
    def __init__(self, redis: ArqRedis, timeline_max: int = 1000) -> None:
        self.redis = redis
        self.timeline_max = timeline_max
        self._ingest = redis.register_script(_INGEST)

    async def ingest(
        self, alerts: Sequence[tuple[Alert, Classification]], at_ms: int | None = None
    ) -> IngestResult:
        """Dedup, upsert incidents and enqueue their jobs atomically; all or nothing."""
        records = json.dumps([_record(a, c) for a, c in alerts])
        args: list[str | int] = [
            at_ms or now_ms(),
            self.timeline_max,
            JOB_EXPIRES_MS,
            QUEUE_NAME,
            ALERT_TTL_S,
        ]
        async with redis_errors():
            raw = await self._ingest(keys=[], args=[*args, records])
        out = json.loads(raw)
        touched = out["incidents"] if isinstance(out["incidents"], list) else []
        return IngestResult(int(out["accepted"]), int(out["duplicates"]), [str(i) for i in touched])

    async def incident(self, incident_id: str) -> Incident | None:
        async with redis_errors():
            raw = await self.redis.hgetall(f"{P}incident:{incident_id}")  # type: ignore[misc]
        if not raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return Incident(
            id=data["id"],
            service=data["service"],
            scenario=data["scenario"],
            severity=data["severity"],
            state=data["state"],
            summary=data["summary"],
            rule=data["rule"],
            why=data["why"],
            source=data["source"],
            link=data.get("link", ""),
            first_seen=_dt(data["first_seen"]),
            last_seen=_dt(data["last_seen"]),
            resolved_at=_dt(data["resolved_at"]) if data.get("resolved_at") else None,
            alert_count=int(data.get("alert_count", 0)),
            duplicates=int(data.get("duplicates", 0)),
            labels=json.loads(data.get("labels", "{}")),
            unsigned=data.get("unsigned") == "1",
        )

    async def deployments(self, service: str, since_ms: int = 0) -> list[tuple[str, datetime]]:
        """Successful deployments of `service` reported by a source, newest first."""
        async with redis_errors():
            raw = await self.redis.zrevrangebyscore(
                f"{P}deploys:{service}", "+inf", since_ms, withscores=True
            )
        return [(d.decode(), _dt(score)) for d, score in raw]

    async def incident_ids(self, limit: int = 50) -> list[str]:
        async with redis_errors():
            ids = await self.redis.zrevrange(f"{P}incidents", 0, limit - 1)
        return [i.decode() for i in ids]

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        async with redis_errors():
            raw = await self.redis.lrange(f"{P}incident:{incident_id}:timeline", 0, -1)  # type: ignore[misc]
        entries = []
        for item in raw:
            data = json.loads(item)
            data["at"] = _dt(data["at"])
            entries.append(TimelineEntry.model_validate(data))
        return entries

    async def record(self, incident_id: str, actor: str, event: str, detail: str = "") -> None:
        entry = {"at": now_ms(), "actor": actor, "event": event, "detail": detail}
        key = f"{P}incident:{incident_id}:timeline"
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(entry))
            pipe.ltrim(key, -self.timeline_max, -1)
            await pipe.execute()

    async def was_notified(self, incident_id: str, kind: str) -> bool:
        async with redis_errors():
            return bool(await self.redis.exists(f"{P}notified:{incident_id}:{kind}"))

    async def mark_notified(self, incident_id: str, kind: str) -> None:
        async with redis_errors():
            await self.redis.set(f"{P}notified:{incident_id}:{kind}", now_ms())

    async def dead_letter(
        self, job_id: str, function: str, args: Sequence[str], tries: int, error: str
    ) -> None:
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                f"{P}deadletter:{job_id}",
                mapping={
                    "job_id": job_id,
                    "function": function,
                    "args": json.dumps(list(args)),
                    "tries": tries,
                    "error": error,
                    "at": now_ms(),
                },
            )
            pipe.zadd(f"{P}deadletters", {job_id: now_ms()})
            await pipe.execute()

    async def dead_letters(self) -> list[str]:
        async with redis_errors():
            return [j.decode() for j in await self.redis.zrange(f"{P}deadletters", 0, -1)]

    async def beat(self, role: str, instance: str) -> None:
        async with redis_errors():
            await self.redis.hset(f"{P}heartbeat:{role}", instance, str(now_ms()))  # type: ignore[misc]

    async def heartbeat_age_s(self, role: str) -> float | None:
        """Seconds since the freshest heartbeat of any instance of `role`; None if never."""
        async with redis_errors():
            beats = await self.redis.hvals(f"{P}heartbeat:{role}")  # type: ignore[misc]
        if not beats:
            return None
        return max(0.0, (now_ms() - max(int(b) for b in beats)) / 1000)
