"""A storm: 10,000 deliveries of 50 alerts across 10 services stay calm and fully accounted."""

from __future__ import annotations

import asyncio
import json

import pytest
from arq.connections import ArqRedis

from core.store import Store
from tests.worker.conftest import MakePipeline

DELIVERIES = 10_000
SERVICES = [f"svc{n}" for n in range(10)]
NAMES = ["HighErrorRate", "HighLatency", "OOMKilled", "FrontendDown", "DiskAlmostFull"]
BATCH = 200  # deliveries in flight at once, as a busy Alertmanager sends them


def body(n: int) -> bytes:
    service, name = SERVICES[n % 10], NAMES[(n // 10) % 5]
    alert = {
        "status": "firing",
        "labels": {"alertname": name, "service": service},
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": "2026-11-24T22:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": f"{service}-{name}",
    }
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


async def test_storm_makes_one_incident_and_one_post_per_fingerprint(
    make_pipeline: MakePipeline, real_redis: ArqRedis, record_property: pytest.RecordProperty
) -> None:
    """≤ 50 incidents, exactly one top-level Slack post each, every delivery counted somewhere."""
    p = await make_pipeline(real_redis)
    memory_before = int((await real_redis.info("memory"))["used_memory"])
    accepted = duplicates = 0
    for start in range(0, DELIVERIES, BATCH):
        responses = await asyncio.gather(
            *(p.post(body(n)) for n in range(start, min(start + BATCH, DELIVERIES)))
        )
        for r in responses:
            accepted += r.json()["accepted"]
            duplicates += r.json()["duplicates"]
    await p.drain()
    memory_after = int((await real_redis.info("memory"))["used_memory"])

    store = Store(real_redis)
    incidents = await store.incidents(await store.incident_ids(limit=1000))
    assert len(incidents) == 50
    assert (accepted, duplicates) == (50, DELIVERIES - 50)
    assert sum(i.alert_count + i.suppressed + i.duplicates for i in incidents) == DELIVERIES
    posts = p.texts()
    assert len(posts) == len(incidents)
    assert len(set(posts)) == len(posts)
    growth = memory_after - memory_before
    record_property("redis_memory_growth_bytes", growth)
    print(f"storm: Redis memory grew by {growth / 1024:.0f} KiB for {DELIVERIES} deliveries")
    assert growth < 20 * 1024 * 1024  # bounded: timelines are capped, duplicates only count
