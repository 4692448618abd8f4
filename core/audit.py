"""The audit trail: one record per mutating operator call (who, what, target, outcome, when).

Append-only as far as plantão goes: the API only reads it (GET /api/audit). Key
`plantao:audit` (list, JSON records, newest first, capped at AUDIT_MAX).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from arq.connections import ArqRedis
from pydantic import BaseModel, ConfigDict

from core.store import P, now_ms, redis_errors

AUDIT_KEY = f"{P}audit"
AUDIT_MAX = 100_000


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    who: str  # the token's name (or the CLI's --by)
    role: str  # the token's role; "cli" for the command line
    action: str  # e.g. "acknowledge", "replay_job", "pause"
    target: str  # what it acted on: an incident id, a job id, a switch
    outcome: str  # "ok", "forbidden", or "error: <why>"
    detail: str = ""


async def write(
    redis: ArqRedis,
    who: str,
    role: str,
    action: str,
    target: str,
    outcome: str,
    detail: str = "",
) -> None:
    entry = {
        "at": now_ms(),
        "who": who,
        "role": role,
        "action": action,
        "target": target,
        "outcome": outcome[:500],
        "detail": detail[:500],
    }
    async with redis_errors(), redis.pipeline(transaction=True) as pipe:
        pipe.lpush(AUDIT_KEY, json.dumps(entry))
        pipe.ltrim(AUDIT_KEY, 0, AUDIT_MAX - 1)
        await pipe.execute()


async def read(redis: ArqRedis, limit: int = 100) -> list[AuditRecord]:
    """The newest records first."""
    async with redis_errors():
        raw = await redis.lrange(AUDIT_KEY, 0, limit - 1)  # type: ignore[misc]
    records = []
    for item in raw:
        data = json.loads(item)
        data["at"] = datetime.fromtimestamp(data["at"] / 1000, UTC)
        records.append(AuditRecord.model_validate(data))
    return records
