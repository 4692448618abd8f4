"""Approvals of proposed steps, pressed in Slack: single-use, bound to one incident and one step,
and expiring. The decision is one Lua script, so two clicks at once cannot both win.
The operator API and CLI take the same decisions (core/step_decisions.py).

Keys (under `plantao:`):
  approval:{incident}:{step_key}   hash  state pending|approved|rejected|expired, needed,
                                         approvers (JSON list), by, expires (ms), step (JSON),
                                         result (the executor's line, once it ran), episode
  approvals:{incident}             set   the step keys proposed for it (to list them)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from arq.connections import ArqRedis
from pydantic import BaseModel, ConfigDict

from core.store import P, hashes, now_ms, redis_errors

KEEP_AFTER_EXPIRY_S = 7 * 24 * 3600  # a late click still says "expired", not "unknown"

# KEYS[1] record; ARGV: user, approve|reject, now (ms). Returns {verdict, detail}.
_DECIDE = """
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return {'unknown', ''} end
local state = redis.call('HGET', k, 'state')
if state ~= 'pending' then
  return {'used', state .. ' by ' .. (redis.call('HGET', k, 'by') or '')}
end
if tonumber(redis.call('HGET', k, 'expires')) < tonumber(ARGV[3]) then
  redis.call('HSET', k, 'state', 'expired', 'by', 'the clock')
  return {'expired', ''}
end
if ARGV[2] == 'reject' then
  redis.call('HSET', k, 'state', 'rejected', 'by', ARGV[1])
  return {'rejected', ARGV[1]}
end
local approvers = cjson.decode(redis.call('HGET', k, 'approvers'))
for _, who in ipairs(approvers) do
  if who == ARGV[1] then return {'same_user', who} end
end
table.insert(approvers, ARGV[1])
redis.call('HSET', k, 'approvers', cjson.encode(approvers))
if #approvers >= tonumber(redis.call('HGET', k, 'needed')) then
  local by = table.concat(approvers, ' and ')
  redis.call('HSET', k, 'state', 'approved', 'by', by)
  return {'approved', by}
end
return {'waiting', tostring(#approvers)}
"""


class Click(BaseModel):
    """A button pressed in Slack, as the webhook enqueues it for the worker (a job argument)."""

    model_config = ConfigDict(frozen=True)

    action: str  # ack | approve | reject | escalate | resolve | silence
    incident: str
    step: str = ""  # approve / reject: the step's key (worker.ledger.step_key)
    user: str  # the Slack user id
    user_name: str = ""
    response_url: str = ""  # where an ephemeral answer to this person goes
    action_ts: str = ""
    via: str = "slack"  # slack | operator | cli (core/step_decisions.py: decided already)

    @property
    def actor(self) -> str:
        """How the click appears on the timeline: who (the Slack user id, or the operator
        token's name) by which way, and the name if given."""
        return f"{self.via}:{self.user}" + (f" ({self.user_name})" if self.user_name else "")


class Verdict(StrEnum):
    APPROVED = "approved"  # enough different approvers: run it now, once
    WAITING = "waiting"  # one approval of two: another person must approve
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # no such proposal for this incident and step
    EXPIRED = "expired"
    USED = "used"  # approved, rejected or expired before: a replayed or late click
    SAME_USER = "same_user"  # the second approval must come from someone else


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    detail: str  # who approved (approved/rejected), how it was used (used), count (waiting)


@dataclass(frozen=True)
class Approval:
    incident_id: str
    step_key: str
    state: str
    needed: int
    approvers: list[str]
    by: str
    expires_ms: int
    step: str  # the step as JSON, as the worker proposed it
    result: str
    episode: int = 0  # the incident's `reopened` count when it was proposed


class Approvals:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._decide = redis.register_script(_DECIDE)

    @staticmethod
    def key(incident_id: str, step_key: str) -> str:
        return f"{P}approval:{incident_id}:{step_key}"

    @staticmethod
    def index(incident_id: str) -> str:
        return f"{P}approvals:{incident_id}"

    async def propose(
        self,
        incident_id: str,
        step_key: str,
        step: str,
        ttl_s: float,
        needed: int = 1,
        episode: int = 0,
    ) -> bool:
        """Open an approval for a proposed step; False (and nothing changes) if one exists."""
        key = self.key(incident_id, step_key)
        expires = now_ms() + int(ttl_s * 1000)
        fields = {
            "state": "pending",
            "needed": needed,
            "approvers": "[]",
            "by": "",
            "expires": expires,
            "step": step,
            "result": "",
            "episode": episode,
        }
        async with redis_errors():
            if not await self.redis.hsetnx(key, "state", "pending"):  # type: ignore[misc]
                return False
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=fields)
                pipe.expire(key, int(ttl_s) + KEEP_AFTER_EXPIRY_S)
                pipe.sadd(self.index(incident_id), step_key)
                pipe.expire(self.index(incident_id), int(ttl_s) + KEEP_AFTER_EXPIRY_S)
                await pipe.execute()
        return True

    async def decide(
        self, incident_id: str, step_key: str, user: str, approve: bool, at_ms: int | None = None
    ) -> Decision:
        """Record one person's click; the verdict says whether the step may run now."""
        args = [user, "approve" if approve else "reject", at_ms or now_ms()]
        async with redis_errors():
            verdict, detail = await self._decide(keys=[self.key(incident_id, step_key)], args=args)
        return Decision(Verdict(verdict.decode()), detail.decode())

    async def settle(self, incident_id: str, step_key: str, result: str) -> None:
        """Keep what running the approved step did, for the incident message."""
        async with redis_errors():
            await self.redis.hset(self.key(incident_id, step_key), "result", result)  # type: ignore[misc]

    async def get(self, incident_id: str, step_key: str) -> Approval | None:
        async with redis_errors():
            raw = await self.redis.hgetall(self.key(incident_id, step_key))  # type: ignore[misc]
        return _approval(incident_id, step_key, raw) if raw else None

    async def of(self, incident_id: str) -> list[Approval]:
        """Every approval proposed for the incident (still kept), oldest opening first."""
        async with redis_errors():
            members = await self.redis.smembers(self.index(incident_id))  # type: ignore[misc]
        keys = sorted(k.decode() for k in members)
        rows = await hashes(self.redis, [self.key(incident_id, k) for k in keys])
        found = [_approval(incident_id, k, raw) for k, raw in zip(keys, rows, strict=True) if raw]
        return sorted(found, key=lambda a: a.episode)


def _approval(incident_id: str, step_key: str, raw: dict[bytes, bytes]) -> Approval:
    d = {k.decode(): v.decode() for k, v in raw.items()}
    return Approval(
        incident_id,
        step_key,
        d.get("state", "pending"),
        int(d.get("needed", 1)),
        json.loads(d.get("approvers", "[]")),
        d.get("by", ""),
        int(d.get("expires", 0)),
        d.get("step", ""),
        d.get("result", ""),
        int(d.get("episode", 0)),
    )
