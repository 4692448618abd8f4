"""The Redis-backed incident store: atomic intake, incidents, timelines, notices, dead letters.

Key layout (all under `plantao:`; schema 2; everything survives a restart of every process):
  incident:{id}              hash   the incident (see core.models.Incident); `link:{source}` fields;
                                    `mitigated_at` once its time to mitigate was observed
  incident:{id}:timeline     list   JSON TimelineEntry, capped at the newest `timeline_max` entries
  incident:{id}:firing       set    fingerprints of its alerts still firing
  incident:{id}:flapping     string set while a reopened incident is inside its flapping window
  open:{group}               string the open incident of a group (default group: scenario|service)
  recent:{group}             string a resolved incident that reopens if its group fires again soon
  svc:{service}              hash   scenario -> its latest incident (inhibition looks here)
  alert:{fingerprint}        hash   last status and start seen (the dedup record), 30 days
  incidents                  zset   incident ids by first seen
  open-incidents             zset   incident ids not resolved, by when they (re)opened
  notified:{id}:{kind}       string a Slack message of that kind went out
  deadletters                zset   job ids that exhausted their tries, by time
  deadletter:{job_id}        hash   function, args, tries, error
  heartbeat:{role}           hash   instance -> last beat (ms)
  deploys:{service}          zset   successful deployment ids by time (the newest 100)
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from core.errors import InvalidTransition, StoreUnavailable, UnknownIncident
from core.lifecycle import refusal
from core.metrics import COUNTERS_KEY, alert_counter_fields, observe_mitigated, observe_transition
from core.models import (
    Alert,
    Classification,
    Incident,
    IncidentState,
    Scenario,
    Severity,
    Source,
    TimelineEntry,
)
from core.queue import JOB_EXPIRES_MS, QUEUE_NAME

P = "plantao:"
ALERT_TTL_S = 30 * 24 * 3600  # how long a fingerprint's last status is remembered for dedup
FLAP_WINDOW_S = 600.0  # a resolved incident whose alert fires again within 10 min reopens
_INGEST = (Path(__file__).parent / "ingest.lua").read_text(encoding="utf-8")
_TRANSITION = (Path(__file__).parent / "transition.lua").read_text(encoding="utf-8")


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
    silenced: int
    suppressed: int
    incidents: list[str]


@dataclass(frozen=True)
class Arrival:
    """An alert as the intake decided to take it: classified, grouped, maybe silenced/inhibited."""

    alert: Alert
    found: Classification
    group: str  # alerts of one group form one incident while it is open
    silenced_by: str = ""  # a silence or maintenance window id
    inhibitors: tuple[Scenario, ...] = ()  # open incidents of these scenarios suppress it
    inhibit_max: Severity = Severity.P0  # ... when at least this severe


def group_key(fields: Sequence[str], alert: Alert, found: Classification) -> str:
    """The incident group of an alert, from PLANTAO_CONFIG `incidents.group_by`: "service",
    "scenario", "source" or "label:<name>" values joined by "|"."""
    parts: list[str] = []  # StrEnums join as their values
    for name in fields:
        if name == "service":
            parts.append(alert.service)
        elif name == "scenario":
            parts.append(found.scenario)
        elif name == "source":
            parts.append(alert.source)
        else:
            parts.append(alert.labels.get(name.removeprefix("label:"), ""))
    return "|".join(parts)


def _record(arrival: Arrival) -> dict[str, object]:
    """One alert as core/ingest.lua takes it. The enums go as they are: orjson writes a StrEnum
    as its value, and `.value` on each costs more than the rest of a field (run per alert)."""
    alert, found = arrival.alert, arrival.found
    state = "firing" if alert.firing else "resolved"
    return {
        "fp": alert.fingerprint,
        "firing": alert.firing,
        "starts": alert.starts_at,
        "group": arrival.group,
        "service": alert.service,
        "scenario": found.scenario,
        "severity": found.severity,
        "summary": alert.summary,
        "rule": found.rule,
        "why": found.why,
        "source": alert.source,
        "link": alert.link,
        "labels": orjson.dumps(alert.labels, option=orjson.OPT_SORT_KEYS).decode(),
        "detail": f"{alert.name} {state} ({alert.fingerprint}); {found.why}",
        "unsigned": not alert.signed,
        "deployment": alert.deployment,
        "silenced": arrival.silenced_by,
        "inhibitors": arrival.inhibitors or {},  # cjson: {} is the empty list
        "inhibit_max": arrival.inhibit_max,
    }


def _incident(data: dict[str, str]) -> Incident:
    links = {k.removeprefix("link:"): v for k, v in data.items() if k.startswith("link:")}
    return Incident(
        id=data["id"],
        service=data["service"],
        scenario=Scenario(data["scenario"]),
        severity=Severity(data["severity"]),
        state=IncidentState(data["state"]),
        summary=data["summary"],
        rule=data["rule"],
        why=data["why"],
        source=Source(data["source"]),
        link=data.get("link", ""),
        first_seen=_dt(data["first_seen"]),
        last_seen=_dt(data["last_seen"]),
        resolved_at=_dt(data["resolved_at"]) if data.get("resolved_at") else None,
        alert_count=int(data.get("alert_count", 0)),
        duplicates=int(data.get("duplicates", 0)),
        labels=json.loads(data.get("labels", "{}")),
        unsigned=data.get("unsigned") == "1",
        sources=[Source(x) for x in data.get("sources", data["source"]).split(",") if x],
        links=links,
        acknowledged_by=data.get("acknowledged_by", ""),
        acknowledged_at=_dt(data["acknowledged_at"]) if data.get("acknowledged_at") else None,
        escalation=int(data.get("escalation", 0)),
        silenced_by=data.get("silenced_by", ""),
        suppressed=int(data.get("suppressed", 0)),
        reopened=int(data.get("reopened", 0)),
    )


async def hashes(redis: ArqRedis, keys: Sequence[str]) -> list[dict[bytes, bytes]]:
    """Several hashes in one round trip, in the order of `keys` (empty for a missing one)."""
    async with redis_errors(), redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        return list(await pipe.execute())


def notified_key(incident_id: str, kind: str) -> str:
    return f"{P}notified:{incident_id}:{kind}"


class Store:
    def __init__(
        self,
        redis: ArqRedis,
        timeline_max: int = 1000,
        flap_window_s: float = FLAP_WINDOW_S,
        *,
        ingest_via: Callable[[str], Any] | None = None,  # the api's pipe (webhook/redis_pipe.py)
    ) -> None:
        self.redis = redis
        self.timeline_max = timeline_max
        self.flap_window_ms = int(flap_window_s * 1000)
        self._ingest = (ingest_via or redis.register_script)(_INGEST)
        self._transition = redis.register_script(_TRANSITION)

    async def ingest(
        self, arrivals: Sequence[Arrival], at_ms: int | None = None, *, source: str | None = None
    ) -> IngestResult:
        """Dedup, upsert incidents and enqueue their jobs atomically; all or nothing. With
        `source`, the alerts are counted in plantao_alerts_received_total in the same step."""
        records = orjson.dumps([_record(a) for a in arrivals])  # the intake's hottest encoding
        args: list[str | int] = [
            at_ms or now_ms(),
            self.timeline_max,
            JOB_EXPIRES_MS,
            QUEUE_NAME,
            ALERT_TTL_S,
            self.flap_window_ms,
        ]
        async with redis_errors():
            counters = [alert_counter_fields(source), COUNTERS_KEY] if source else []
            raw = await self._ingest(keys=[], args=[*args, records, *counters])
        out = orjson.loads(raw)
        touched = out["incidents"] if isinstance(out["incidents"], list) else []
        for item in out["mitigated"] if isinstance(out["mitigated"], list) else []:
            await observe_mitigated(self.redis, Severity(item["severity"]), float(item["seconds"]))
        return IngestResult(
            accepted=int(out["accepted"]),
            duplicates=int(out["duplicates"]),
            silenced=int(out["silenced"]),
            suppressed=int(out["suppressed"]),
            incidents=[str(i) for i in touched],
        )

    async def transition(
        self, incident_id: str, target: IncidentState, actor: str, detail: str = ""
    ) -> Incident:
        """Move an incident along the state machine (core/lifecycle.py) or refuse with a reason.

        The state is re-checked atomically: a concurrent change makes this refuse, never apply
        half-way. Resolving by hand closes the group and queues the resolution notice.
        """
        incident = await self.incident(incident_id)
        if incident is None:
            raise UnknownIncident(f"no incident {incident_id}")
        reason = refusal(incident.state, target)
        if reason is not None:
            raise InvalidTransition(reason)
        args = [incident_id, incident.state.value, target.value, actor, detail, now_ms()]
        async with redis_errors():
            result = await self._transition(
                keys=[], args=[*args, self.timeline_max, JOB_EXPIRES_MS, QUEUE_NAME]
            )
        if result != b"ok":
            raise InvalidTransition(f"the incident changed meanwhile (now {result.decode()})")
        changed = await self.incident(incident_id)
        if changed is None:
            raise UnknownIncident(f"no incident {incident_id}")
        await observe_transition(self.redis, incident, changed)  # time to ack / mitigate
        return changed

    async def incident(self, incident_id: str) -> Incident | None:
        async with redis_errors():
            raw = await self.redis.hgetall(f"{P}incident:{incident_id}")  # type: ignore[misc]
        if not raw:
            return None
        return _incident({k.decode(): v.decode() for k, v in raw.items()})

    async def incidents(self, ids: Sequence[str]) -> list[Incident]:
        """Several incidents in one round trip, in the order asked; missing ones left out."""
        rows = await hashes(self.redis, [f"{P}incident:{i}" for i in ids])
        return [_incident({k.decode(): v.decode() for k, v in r.items()}) for r in rows if r]

    async def open_incident_ids(self) -> list[str]:
        async with redis_errors():
            ids = await self.redis.zrange(f"{P}open-incidents", 0, -1)
        return [i.decode() for i in ids]

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
        await self.record_many(incident_id, [(actor, event, detail)])

    async def record_many(
        self, incident_id: str, entries: Sequence[tuple[str, str, str]], notified: str = ""
    ) -> None:
        """Timeline entries (actor, event, detail) in one round trip, in order; with `notified`,
        also mark that kind of message sent (mark_notified), in the same transaction."""
        at = now_ms()
        rows = [json.dumps({"at": at, "actor": a, "event": e, "detail": d}) for a, e, d in entries]
        key = f"{P}incident:{incident_id}:timeline"
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            if notified:
                pipe.set(notified_key(incident_id, notified), at)
            if rows:
                pipe.rpush(key, *rows)
                pipe.ltrim(key, -self.timeline_max, -1)
            await pipe.execute()

    async def silence(self, incident_id: str, silence_id: str, actor: str, comment: str) -> None:
        """Keep an incident quiet: its follow-ups and handler runs are skipped while marked."""
        async with redis_errors():
            await self.redis.hset(f"{P}incident:{incident_id}", "silenced_by", silence_id)  # type: ignore[misc]
        await self.record(incident_id, actor, "incident.silenced", f"{silence_id}: {comment}")

    async def claim_once(self, name: str, ttl_s: int = 30 * 24 * 3600) -> bool:
        """True the first time `name` is claimed (within `ttl_s`), False ever after."""
        async with redis_errors():
            return bool(await self.redis.set(f"{P}once:{name}", now_ms(), nx=True, ex=ttl_s))

    async def was_notified(self, incident_id: str, kind: str) -> bool:
        async with redis_errors():
            return bool(await self.redis.exists(notified_key(incident_id, kind)))

    async def mark_notified(self, incident_id: str, kind: str) -> None:
        async with redis_errors():
            await self.redis.set(notified_key(incident_id, kind), now_ms())

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
