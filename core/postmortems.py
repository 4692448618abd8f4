"""Post-mortem drafts (runbook 004 "Post-Incident Review"): Markdown that the scheduler's duty
writes and the operator API serves. Key: `plantao:postmortem:{incident_id}` (string, kept)."""

from __future__ import annotations

from arq.connections import ArqRedis

from core.store import P, redis_errors


def _key(incident_id: str) -> str:
    return f"{P}postmortem:{incident_id}"


async def save_draft(redis: ArqRedis, incident_id: str, markdown: str) -> None:
    async with redis_errors():
        await redis.set(_key(incident_id), markdown)


async def load_draft(redis: ArqRedis, incident_id: str) -> str | None:
    """The incident's draft, or None until the duty has written one."""
    async with redis_errors():
        raw = await redis.get(_key(incident_id))
    return None if raw is None else bytes(raw).decode()
