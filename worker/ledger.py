"""Idempotency records: one per (incident, step), written before any side effect, so that a
re-run job, a duplicate or a second worker never performs the same action twice.

Key `plantao:action:{incident_id}:{step_key}` (hash), kept RECORD_TTL:
  state     intent -> in_flight -> done | failed
  token     the attempt that owns the record; every transition compares it (Lua, atomic)
  target    what the action acts on (a service; the deployment once known)
  attempt   1, then +1 for each takeover of a crashed attempt
  at        ms of the last transition (a live attempt keeps it younger than the lease)
  baseline  the newest deployment before a deploy action: a newer one means it happened
  detail    what happened (deployment made, pids terminated, the error)
  verified  "1" / "0" after the re-probe; absent when none was asked
  step      the step as proposed (worker/step_codec.py), to settle it when no later run plans it

Key `plantao:actions:{incident_id}` (set, kept RECORD_TTL): the incident's record keys.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from enum import StrEnum

from arq.connections import ArqRedis

from core.models import Incident
from core.store import P, hashes, now_ms, redis_errors
from handlers.actions import Action

RECORD_TTL = timedelta(days=90)  # as long as the evidence (runbook 003 "Retenção")

# KEYS: record, the incident's index; ARGV: token, target, now, ttl_s, step. Creates an
# `intent` record (indexed) or reports 0.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'intent', 'token', ARGV[1], 'target', ARGV[2],
  'attempt', 1, 'at', ARGV[3], 'intent_at', ARGV[3], 'step', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

# KEYS[1] record; ARGV: expected state, expected token, now, then field/value pairs to set.
_ADVANCE = """
local cur = redis.call('HMGET', KEYS[1], 'state', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

# KEYS[1] record; ARGV: expected state, expected token. Deletes an attempt that never started.
_RELEASE = """
local cur = redis.call('HMGET', KEYS[1], 'state', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class State(StrEnum):
    INTENT = "intent"  # claimed; nothing sent yet
    IN_FLIGHT = "in_flight"  # the side effect may have started
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Record:
    key: str
    state: State
    token: str
    target: str
    attempt: int
    at_ms: int
    baseline: str = ""
    detail: str = ""
    verified: bool | None = None
    step: str = ""  # worker/step_codec.py encode_step; "" in records older than the field

    def age_s(self) -> float:
        return max(0.0, (now_ms() - self.at_ms) / 1000)


def step_key(action: Action) -> str:
    """The step's identity in an incident: its kind and a digest of its fields."""
    fields = json.dumps(asdict(action), sort_keys=True, default=str)
    return f"{type(action).__name__}:{hashlib.sha256(fields.encode()).hexdigest()[:12]}"


def episode_key(incident: Incident, action: Action) -> str:
    """The step's identity in one opening of the incident: a reopened (flapping) incident may
    run a step again, within the action's budget, and needs a fresh approval to do so."""
    key = step_key(action)
    return f"{key}@{incident.reopened}" if incident.reopened else key


def new_token() -> str:
    return uuid.uuid4().hex


class Ledger:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._advance = redis.register_script(_ADVANCE)
        self._release = redis.register_script(_RELEASE)

    @staticmethod
    def key(incident_id: str, step: str) -> str:
        return f"{P}action:{incident_id}:{step}"

    @staticmethod
    def index(key: str) -> str:
        """The index of the incident a record key belongs to."""
        incident_id = key.removeprefix(f"{P}action:").split(":", 1)[0]
        return f"{P}actions:{incident_id}"

    async def get(self, key: str) -> Record | None:
        async with redis_errors():
            raw = await self.redis.hgetall(key)  # type: ignore[misc]
        return _record(key, raw) if raw else None

    async def unsettled(self, incident_id: str) -> list[Record]:
        """The incident's records still in `intent` or `in_flight`: attempts running, or
        interrupted by a crash."""
        async with redis_errors():
            members = await self.redis.smembers(f"{P}actions:{incident_id}")  # type: ignore[misc]
        keys = sorted(m.decode() for m in members)
        rows = await hashes(self.redis, keys)
        found = [_record(key, raw) for key, raw in zip(keys, rows, strict=True) if raw]
        return [r for r in found if r.state in (State.INTENT, State.IN_FLIGHT)]

    async def claim(self, key: str, token: str, target: str, step: str = "") -> bool:
        """Create the record in `intent` for this attempt; False if any record exists."""
        ttl = int(RECORD_TTL.total_seconds())
        async with redis_errors():
            return bool(
                await self._claim(
                    keys=[key, self.index(key)], args=[token, target, now_ms(), ttl, step]
                )
            )

    async def take_over(self, record: Record, token: str) -> bool:
        """Make a crashed attempt's record ours, back in `intent`; False if it moved meanwhile."""
        attempt = str(record.attempt + 1)
        return await self._cas(
            record.key, record.state, record.token, State.INTENT, token=token, attempt=attempt
        )

    async def advance(self, key: str, token: str, frm: State, to: State, **fields: str) -> bool:
        """Move our attempt's record from `frm` to `to`; False if it is no longer ours there."""
        return await self._cas(key, frm, token, to, **fields)

    async def _cas(self, key: str, frm: State, owner: str, to: State, **fields: str) -> bool:
        args: list[str | int] = [frm.value, owner, now_ms(), "state", to.value]
        for name, value in fields.items():
            args += [name, value]
        async with redis_errors():
            return bool(await self._advance(keys=[key], args=args))

    async def set_verified(self, key: str, ok: bool) -> None:
        """Note the re-probe's verdict on a finished record."""
        async with redis_errors():
            await self.redis.hset(key, "verified", "1" if ok else "0")  # type: ignore[misc]

    async def release(self, key: str, token: str, state: State = State.INTENT) -> bool:
        """Delete the record while `token`'s attempt holds it in `state`: the attempt stopped
        before any side effect (or it was interrupted and had none); the step is free again."""
        async with redis_errors():
            return bool(await self._release(keys=[key], args=[state.value, token]))


def _record(key: str, raw: dict[bytes, bytes]) -> Record:
    d = {k.decode(): v.decode() for k, v in raw.items()}
    return Record(
        key,
        State(d["state"]),
        d["token"],
        d.get("target", ""),
        int(d.get("attempt", 1)),
        int(d["at"]),
        d.get("baseline", ""),
        d.get("detail", ""),
        {"1": True, "0": False}.get(d.get("verified", "")),
        d.get("step", ""),
    )
