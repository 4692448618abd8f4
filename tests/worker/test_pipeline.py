"""From webhook to Slack: one message per incident, one per resolution, none for re-deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field

from arq.connections import ArqRedis

from core.store import Store
from handlers.types import Endpoint, HttpCheck
from tests.conftest import fixture_bytes
from tests.worker.conftest import MakePipeline

FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
RESOLVED = fixture_bytes("alertmanager", "captured-am025-resolved-2-alerts-servicedown.json")
ERRORS = fixture_bytes("alertmanager", "captured-am025-firing-3-alerts-mixed-severity.json")


async def test_one_message_per_incident_and_per_resolution(
    make_pipeline: MakePipeline, any_redis: ArqRedis
) -> None:
    """Re-deliveries of a firing or a resolved group never post again."""
    p = await make_pipeline(any_redis)
    await p.post(FIRING)
    await p.post(FIRING)
    await p.drain()
    await p.post(FIRING)
    await p.drain()
    assert len(p.texts()) == 1
    assert p.texts()[0].startswith("[P0] api_down on worker:")
    await p.post(RESOLVED)
    await p.post(RESOLVED)
    await p.drain()
    await p.post(RESOLVED)
    await p.drain()
    assert len(p.texts()) == 2
    assert p.texts()[1].startswith("Resolved: [P0] api_down on worker")


async def test_the_message_shows_scenario_diagnosis_and_proposed_steps(
    make_pipeline: MakePipeline, any_redis: ArqRedis
) -> None:
    """The incident message carries what a responder needs: why, findings, steps with policy."""
    p = await make_pipeline(any_redis)
    await p.post(ERRORS)
    await p.drain()
    (body,) = p.slack.json_bodies()
    blocks = "\n".join(b["text"]["text"] for b in body["blocks"])
    assert body["text"].startswith("[P1] error_rate_spike on api:")
    assert "rule high-error-rate: alertname=HighErrorRate" in blocks
    assert "/health" in blocks and "-> 200" in blocks  # the health probe really ran
    assert "[approve]" in blocks
    timeline = [e.event for e in await Store(any_redis).timeline("1")]
    assert timeline[-1] == "notified"
    assert "diagnosed" in timeline and "step.proposed" in timeline


async def test_slack_failing_once_is_retried_and_posts_once(
    make_pipeline: MakePipeline, real_redis: ArqRedis
) -> None:
    """A 5xx from Slack retries the job; the message still goes out exactly once."""
    p = await make_pipeline(real_redis)
    p.slack.respond(503, times=1)
    await p.post(FIRING)
    await p.drain()
    texts = p.texts()
    assert len(texts) == 2 and texts[0] == texts[1]  # the 503'd attempt, then the one that landed
    events = [e.event for e in await Store(real_redis).timeline("1")]
    assert "job.retry" in events


@dataclass
class BrokenProbes:
    """Probes whose every call crashes, like a handler bug would."""

    calls: list[str] = field(default_factory=list)

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck:
        self.calls.append(f"{service}/{endpoint}")
        raise RuntimeError("probe exploded")


async def test_a_crashing_handler_is_retried_then_dead_lettered_and_reported(
    make_pipeline: MakePipeline, any_redis: ArqRedis
) -> None:
    """A handler that always raises is tried job_max_tries times, dead-lettered, reported."""
    probes = BrokenProbes()
    p = await make_pipeline(any_redis, probes=probes, job_max_tries=2)
    await p.post(FIRING)
    await p.drain()
    (text,) = p.texts()
    assert "handler `api_down` failed" in text
    store = Store(any_redis)
    assert await store.dead_letters() == ["incident:1:open"]
    events = [e.event for e in await store.timeline("1")]
    assert events.count("job.retry") == 1 and "job.dead_lettered" in events
    assert len({c for c in probes.calls}) >= 1 and len(probes.calls) >= 2


async def test_resolution_still_posts_after_a_dead_lettered_opening(
    make_pipeline: MakePipeline, embedded_redis: ArqRedis
) -> None:
    """A failed handler does not swallow the resolution message."""
    p = await make_pipeline(embedded_redis, probes=BrokenProbes(), job_max_tries=2)
    await p.post(FIRING)
    await p.drain()
    await p.post(RESOLVED)
    await p.drain()
    assert [t.split(" ")[0] for t in p.texts()] == ["[P0]", "Resolved:"]
