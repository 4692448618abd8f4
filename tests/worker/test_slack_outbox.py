"""The Slack outbox against a local Slack: order, priority, Retry-After, Slack down, a worker
killed mid-send, storms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from arq.connections import ArqRedis
from prometheus_client.parser import text_string_to_metric_families

from core import metrics
from core.store import now_ms
from tests.support.slack_stub import TOKEN, SlackStub
from worker import outbox_refused
from worker.outbox import Kind, Outbox
from worker.outbox_sender import Sender
from worker.slack_api import SlackApi

CHANNEL = "C0PLANTAO"


def section(text: str) -> list[dict[str, object]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def sender(
    redis: ArqRedis,
    stub: SlackStub,
    http: httpx.AsyncClient,
    *,
    interval: float = 0.0,
    instance: str = "w1",
    timeout: float = 5.0,
) -> Sender:
    api = SlackApi(stub.url, TOKEN, http, timeout)
    return Sender(Outbox(redis, CHANNEL), api, interval, instance, lease_ms=300)


async def post(outbox: Outbox, text: str, incident: str = "", urgent: bool = False) -> str:
    dedup = f"{incident}:top" if incident else ""
    return await outbox.enqueue(
        Kind.POST, text, section(text), incident=incident, dedup=dedup, urgent=urgent
    )


async def test_posts_go_out_in_order_and_once_per_dedup_key(
    any_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """Items leave in the order recorded; recording the same top-level post twice sends it once."""
    outbox = Outbox(any_redis, CHANNEL)
    for n in range(3):
        await post(outbox, f"incident {n}", incident=str(n))
    await post(outbox, "incident 0 again", incident="0")
    await sender(any_redis, stub, http).drain(5)
    assert [m.text for m in stub.top()] == ["incident 0", "incident 1", "incident 2"]
    assert stub.top()[0].metadata == {
        "event_type": "plantao_message",
        "event_payload": {"incident": "0", "outbox_id": "1"},
    }


async def test_p0_and_p1_jump_ahead_of_chatter(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """An urgent post recorded after three notices is sent before them."""
    outbox = Outbox(real_redis, CHANNEL)
    for n in range(3):
        await post(outbox, f"notice {n}")
    await post(outbox, "P0 database down", incident="9", urgent=True)
    await sender(real_redis, stub, http).drain(5)
    assert [m.text for m in stub.top()] == ["P0 database down", "notice 0", "notice 1", "notice 2"]


async def test_replies_and_updates_wait_for_their_top_level_message(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """A thread reply recorded urgently never goes before its incident's message; it threads."""
    outbox = Outbox(real_redis, CHANNEL)
    await post(outbox, "chatter")
    await post(outbox, "P3 top", incident="5")
    await outbox.enqueue(Kind.REPLY, "reply", section("reply"), incident="5", urgent=True)
    await outbox.enqueue(Kind.UPDATE, "P3 top v2", section("v2"), incident="5", urgent=True)
    await sender(real_redis, stub, http).drain(5)
    (top,) = [m for m in stub.top() if m.text.startswith("P3")]
    assert [m.text for m in stub.thread(top.ts)] == ["reply"]
    assert top.text == "P3 top v2" and len(top.edits) == 1


async def test_429_is_honoured_exactly_and_nothing_is_lost(
    real_redis: ArqRedis, http: httpx.AsyncClient
) -> None:
    """After a 429 no request reaches Slack before Retry-After runs out, and all posts land."""
    stub = SlackStub(min_interval_s=0.2, retry_after_s=0.4).start()
    try:
        outbox = Outbox(real_redis, CHANNEL)
        for n in range(4):
            await post(outbox, f"m{n}", incident=str(n))
        await sender(real_redis, stub, http, interval=0.0).drain(10)
        assert [m.text for m in stub.top()] == ["m0", "m1", "m2", "m3"]
        limited = [c for c in stub.writes() if c.status == 429]
        assert limited and stub.early == []
        families = text_string_to_metric_families(await metrics.render(real_redis))
        counted = {f.name: f.samples[0].value for f in families if f.samples}
        assert counted["plantao_slack_rate_limited"] == len(limited)  # each 429 counted once
    finally:
        stub.close()


async def test_slack_down_then_up_delivers_everything_in_order(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """While Slack answers 500 posts wait in the outbox; when it returns they go out in order."""
    outbox = Outbox(real_redis, CHANNEL)
    for n in range(5):
        await post(outbox, f"m{n}", incident=str(n))
    stub.fail_status = 500
    s = sender(real_redis, stub, http)
    for _ in range(3):
        await asyncio.sleep(await s.step())
    assert await outbox.queued() == 5 and len(stub.writes()) == 3
    stub.fail_status = 0
    await s.drain(10)
    assert [m.text for m in stub.top()] == [f"m{n}" for n in range(5)]


async def test_a_worker_killed_mid_send_does_not_post_twice(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """Slack took the post but the worker died before recording it: the next sender finds it by
    its metadata and does not post again."""
    outbox = Outbox(real_redis, CHANNEL)
    await post(outbox, "only once", incident="1")
    stub.hold_s = 1.0
    first = asyncio.create_task(sender(real_redis, stub, http, instance="killed").run())
    await asyncio.to_thread(stub.wait_posted, 1)
    first.cancel()  # killed between send and record
    await asyncio.gather(first, return_exceptions=True)
    stub.hold_s = 0.0
    await sender(real_redis, stub, http, instance="next").drain(5)
    assert [m.text for m in stub.top()] == ["only once"]
    assert len(stub.writes("conversations.history")) == 1


async def test_a_timed_out_post_is_looked_up_not_repeated(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """A post whose answer never came (client timeout) is found in the thread, not re-sent."""
    outbox = Outbox(real_redis, CHANNEL)
    await post(outbox, "top", incident="1")
    await sender(real_redis, stub, http).drain(5)
    await outbox.enqueue(Kind.REPLY, "in thread", section("x"), incident="1", dedup="1:r")
    stub.hold_s = 0.6
    await sender(real_redis, stub, http, timeout=0.2).drain(10)
    (top,) = stub.top()
    assert [m.text for m in stub.thread(top.ts)] == ["in thread"]
    assert len(stub.writes("conversations.replies")) == 1


async def test_a_storm_of_replies_becomes_a_digest(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """Thirty replies queued for one thread go out as two digest messages, none dropped."""
    outbox = Outbox(real_redis, CHANNEL)
    await post(outbox, "top", incident="1")
    for n in range(30):
        await outbox.enqueue(Kind.REPLY, f"r{n}", section(f"r{n}"), incident="1")
    await sender(real_redis, stub, http).drain(5)
    (top,) = stub.top()
    replies = stub.thread(top.ts)
    assert len(replies) == 2
    texts = "\n".join(m.text for m in replies).split("\n")
    assert texts == [f"r{n}" for n in range(30)]


async def test_refused_messages_are_set_aside_not_retried_forever(
    real_redis: ArqRedis, http: httpx.AsyncClient
) -> None:
    """A message Slack refuses (ok: false) goes to the dead set and the queue moves on."""
    stub = SlackStub().start()
    try:
        outbox = Outbox(real_redis, CHANNEL)
        await post(outbox, "fine", incident="1")
        api = SlackApi(stub.url, "xoxb-wrong", http, 5)
        await Sender(outbox, api, 0, "w").drain(5)
        assert await outbox.queued() == 0
        assert await real_redis.zcard("plantao:outbox:dead") == 1
    finally:
        stub.close()


async def test_refused_messages_are_listed_with_the_error_and_sent_again_on_retry(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """`plantao outbox retry`: once the cause is fixed, a refused message goes out after all."""
    outbox = Outbox(real_redis, CHANNEL)
    await post(outbox, "lost?", incident="1")
    await Sender(outbox, SlackApi(stub.url, "xoxb-wrong", http, 5), 0, "w").drain(5)
    [refused] = await outbox_refused.refused(real_redis)
    assert (refused.text, refused.kind, refused.incident) == ("lost?", "post", "1")
    assert refused.error and stub.top() == []
    assert await outbox_refused.retry(real_redis) == 1
    assert await outbox_refused.retry(real_redis) == 0  # nothing left to retry
    await sender(real_redis, stub, http, instance="w").drain(5)
    assert [m.text for m in stub.top()] == ["lost?"]
    assert await outbox_refused.refused(real_redis) == []


async def test_refused_messages_age_out_and_are_capped(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refused set keeps at most REFUSED_MAX messages, each for REFUSED_KEEP_S."""
    monkeypatch.setattr(outbox_refused, "REFUSED_MAX", 3)
    outbox = Outbox(real_redis, CHANNEL)
    for n in range(5):
        await post(outbox, f"m{n}", incident=str(n))
    await Sender(outbox, SlackApi(stub.url, "xoxb-wrong", http, 5), 0, "w").drain(5)
    kept = await outbox_refused.refused(real_redis)
    assert [r.text for r in kept] == ["m4", "m3", "m2"]  # the newest, newest first
    assert await real_redis.exists("plantao:outbox:item:1") == 0  # the dropped are gone
    later = now_ms() + (outbox_refused.REFUSED_KEEP_S + 1) * 1000
    assert await outbox_refused.trim(real_redis, later) == 3
    assert await outbox_refused.refused(real_redis) == []


async def test_slacks_own_transient_errors_are_sent_again_not_refused(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """`ok: false` with internal_error or ratelimited is Slack's trouble: the message is sent
    again (once), counted as rate-limited where it was, and nothing is set aside."""
    outbox = Outbox(real_redis, CHANNEL)
    await post(outbox, "eventually", incident="1")
    stub.errors = ["internal_error", "ratelimited", "service_unavailable"]
    stub.retry_after_s = 0.1
    await sender(real_redis, stub, http).drain(10)
    assert [m.text for m in stub.top()] == ["eventually"]
    assert await outbox_refused.refused(real_redis) == []
    families = text_string_to_metric_families(await metrics.render(real_redis))
    counted = {f.name: f.samples[0].value for f in families if f.samples}
    assert counted["plantao_slack_rate_limited"] == 1


async def test_a_refused_top_level_post_takes_its_thread_aside_and_retry_sends_it_all(
    real_redis: ArqRedis, stub: SlackStub, http: httpx.AsyncClient
) -> None:
    """An incident message Slack refuses (invalid_blocks) does not leave its replies and
    updates blocking the queue: they are set aside with it (later ones too), other incidents
    go out, and `retry` of them all posts the message and then its thread, in order."""
    outbox = Outbox(real_redis, CHANNEL)
    stub.refuse = {"bad top": "invalid_blocks"}
    await post(outbox, "bad top", incident="1")
    await outbox.enqueue(Kind.REPLY, "r1", section("r1"), incident="1", dedup="1:r1")
    await outbox.enqueue(Kind.UPDATE, "top v2", section("v2"), incident="1", dedup="1:update")
    await post(outbox, "other", incident="2")
    s = sender(real_redis, stub, http)
    await s.drain(5)  # the queue empties: nothing waits for a thread that will never exist
    await outbox.enqueue(Kind.REPLY, "r2", section("r2"), incident="1", dedup="1:r2")
    await s.drain(5)
    assert [m.text for m in stub.top()] == ["other"]
    refused = await outbox_refused.refused(real_redis)
    assert sorted(r.text for r in refused) == ["bad top", "r1", "r2", "top v2"]
    errors = {r.text: r.error for r in refused}
    assert "invalid_blocks" in errors["bad top"]
    assert "was refused" in errors["r1"] and "was refused" in errors["r2"]
    stub.refuse.clear()  # the cause is fixed
    assert await outbox_refused.retry(real_redis) == 4
    await s.drain(5)
    _, top = stub.top()  # the post went out, then its update replaced the text
    assert top.text == "top v2" and top.metadata == {
        "event_type": "plantao_message",
        "event_payload": {"incident": "1", "outbox_id": "1"},
    }
    assert "\n".join(m.text for m in stub.thread(top.ts)).split("\n") == ["r1", "r2"]
    assert await outbox_refused.refused(real_redis) == []
