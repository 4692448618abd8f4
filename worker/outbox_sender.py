"""The outbox's sender (worker/outbox.py records the messages): one per worker, one sending
at a time under a Redis lease. It picks the next item in order, merges a thread's queued
replies into one digest, paces each channel, honours Retry-After, backs off on 5xx, looks a
message up by its metadata before sending it again, and sets refused ones aside."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog

from core.errors import StoreUnavailable
from core.metrics import count
from core.store import now_ms
from worker import outbox_refused
from worker.outbox import (
    BACKOFF_MAX_S,
    DIGEST_MAX,
    IDLE_S,
    LOCK_MS,
    LOOKBACK_S,
    MAX_BLOCKS,
    TEXT_LIMIT,
    Item,
    Kind,
    Outbox,
)
from worker.slack_api import RateLimited, SlackApi, SlackDown, SlackRefused

log = structlog.get_logger()


def digest(items: list[Item]) -> tuple[str, list[dict[str, Any]]]:
    """Several replies as one message: texts joined, blocks in order up to Slack's limit."""
    if len(items) == 1:
        return items[0].text, items[0].blocks
    text = "\n".join(i.text for i in items)
    blocks: list[dict[str, Any]] = []
    for item in items:
        blocks += item.blocks
    if len(blocks) > MAX_BLOCKS:
        left = len(blocks) - (MAX_BLOCKS - 1)
        more = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"… {left} more"}]}
        blocks = [*blocks[: MAX_BLOCKS - 1], more]
    return text[:TEXT_LIMIT], blocks


class Sender:
    """Sends the outbox. Every worker runs one; a Redis lease lets only one send at a time."""

    def __init__(
        self,
        outbox: Outbox,
        api: SlackApi,
        min_interval_s: float,
        instance: str,
        lease_ms: int = LOCK_MS,
    ) -> None:
        self.outbox, self.api = outbox, api
        self.min_interval_s, self.instance, self.lease_ms = min_interval_s, instance, lease_ms
        self._next_at = 0.0  # monotonic: the channel's next free slot
        self._failures = 0

    async def run(self) -> None:
        """Send for ever; on a clean stop (cancel) give the lease to another worker at once."""
        try:
            while True:
                try:
                    wait = await self.step()
                except StoreUnavailable as exc:
                    log.warning("outbox.redis_unavailable", error=str(exc))
                    wait = 1.0
                await asyncio.sleep(wait)
        finally:
            # best effort (the pool may be closing): otherwise the lease expires by itself
            with contextlib.suppress(Exception):
                await self.outbox.release(self.instance)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Send until the outbox is empty (tests, shutdown); TimeoutError if it does not empty."""
        deadline = time.monotonic() + timeout_s
        while await self.outbox.queued():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{await self.outbox.queued()} messages still in the outbox")
            wait = await self.step()
            await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))

    async def step(self) -> float:
        """Send at most one request; the seconds to wait before the next step."""
        if not await self.outbox.lead(self.instance, self.lease_ms):
            return min(1.0, self.lease_ms / 3000)
        held = (await self.outbox.hold_ms() - now_ms()) / 1000
        if held > 0:
            return held
        pause = self._next_at - time.monotonic()
        if pause > 0:
            return pause
        picked = await self._pick()
        if picked is None:
            return IDLE_S
        batch, parent = picked
        self._next_at = time.monotonic() + self.min_interval_s
        try:
            await self._send(batch, parent)
        except RateLimited as exc:
            await self.outbox.hold(exc.retry_after_s)
            await self.outbox.requeue(batch)
            await count(self.outbox.redis, "plantao_slack_rate_limited_total")
            log.warning("outbox.rate_limited", retry_after_s=exc.retry_after_s)
            return float(exc.retry_after_s)
        except SlackDown as exc:
            self._failures += 1
            wait = min(BACKOFF_MAX_S, 0.25 * 2.0 ** (self._failures - 1))
            log.warning("outbox.slack_down", error=str(exc), retry_in_s=wait)
            self._next_at = time.monotonic() + wait
            return wait
        except SlackRefused as exc:
            log.error("outbox.refused", error=str(exc), items=[i.id for i in batch])
            await self.outbox.dead(batch, str(exc))
        self._failures = 0
        return 0.0

    async def _pick(self) -> tuple[list[Item], str | None] | None:
        items = await self.outbox.head()
        orphans: set[str] = set()
        for item in items:
            parent = None
            if item.kind is not Kind.POST:
                if item.id in orphans:
                    continue
                parent = await self.outbox.top_ts(item.incident)
                if parent is None:
                    orphans |= await self._orphans(item, items)
                    continue  # its top-level message has not gone out yet (or never will)
            if item.kind is not Kind.REPLY:
                return [item], parent
            if item.lead:  # an earlier attempt: the same message, or nothing
                return [i for i in items if i.lead == item.lead], parent
            same = [
                i
                for i in items
                if i.kind is Kind.REPLY and i.incident == item.incident and not i.lead
            ]
            return same[:DIGEST_MAX], parent
        return None

    async def _orphans(self, item: Item, items: list[Item]) -> set[str]:
        """A thread whose top-level post Slack refused: set its items aside with that post,
        so they do not block the queue; `plantao outbox retry` sends them all again."""
        top = await outbox_refused.orphaned_by(self.outbox.redis, item.incident)
        if top is None:
            return set()
        thread = [i for i in items if i.incident == item.incident and i.kind is not Kind.POST]
        log.error("outbox.orphaned", incident=item.incident, top=top, items=[i.id for i in thread])
        await self.outbox.dead(thread, f"its top-level message (item {top}) was refused")
        return {i.id for i in thread}

    async def _send(self, batch: list[Item], parent: str | None) -> None:
        lead = batch[0]
        if lead.kind is Kind.UPDATE:
            if parent is not None:
                await self.api.update(lead.channel, parent, lead.text, lead.blocks)
            await self.outbox.done(batch)
            return
        if lead.lead:  # an attempt started before and its outcome is unknown: look first
            oldest = lead.created_ms / 1000 - LOOKBACK_S
            found = await self.api.find(lead.channel, lead.lead, oldest, parent)
            if found is not None:
                log.info("outbox.found_posted", item=lead.id, ts=found)
                await self.outbox.done(batch, found)
                return
        mark = lead.lead or lead.id
        await self.outbox.mark_sending(batch, mark)
        text, blocks = digest(batch)
        meta = {"incident": lead.incident, "outbox_id": mark}
        posted = await self.api.post(lead.channel, text, blocks, meta, parent)
        await self.outbox.done(batch, posted.ts)
