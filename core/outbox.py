"""The Slack outbox's Redis keys, shared by the worker (worker/outbox.py) and /health/deep.

Keys (under `plantao:`):
  outbox:queue            zset   item ids to send; score = class * 1e12 + sequence (P0/P1 first)
  outbox:item:{id}        hash   kind, incident, channel, text, blocks, state, attempts, lead
  outbox:dedup:{key}      string the item recorded for a dedup key (an incident's top-level post)
  outbox:seq              string the sequence
  outbox:hold             string ms until which nothing may be sent (Slack's Retry-After)
  outbox:dead             zset   items Slack refused (`ok: false`), by time
  outbox:orphaned:{inc}   string the refused top-level post of an incident: its replies and
                                 updates are set aside with it instead of waiting for ever
  outbox:lock             string the one sender allowed to send (lease)
  slack:ts:{incident}     string the ts of the incident's top-level message
"""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis

from core.store import P, now_ms, redis_errors

QUEUE = f"{P}outbox:queue"
ITEM = f"{P}outbox:item:"
DEDUP = f"{P}outbox:dedup:"
SEQ = f"{P}outbox:seq"
HOLD = f"{P}outbox:hold"
DEAD = f"{P}outbox:dead"
ORPHANED = f"{P}outbox:orphaned:"
LOCK = f"{P}outbox:lock"
TS = f"{P}slack:ts:"


@dataclass(frozen=True)
class Backlog:
    queued: int  # waiting to go to Slack
    dead: int  # refused by Slack
    held_for_s: float  # Slack's Retry-After still running


async def backlog(redis: ArqRedis) -> Backlog:
    async with redis_errors(), redis.pipeline(transaction=False) as pipe:
        pipe.zcard(QUEUE)
        pipe.zcard(DEAD)
        pipe.get(HOLD)
        queued, dead, hold = await pipe.execute()
    held = max(0.0, (int(hold) - now_ms()) / 1000) if hold else 0.0
    return Backlog(int(queued), int(dead), held)
