"""Probing helpers shared by handlers: ask several health endpoints at once, read the answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from core.models import Incident
from handlers.types import Endpoint, HttpCheck, Probes

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")

WRONG_ENVIRONMENT = "CRITICAL"  # 001 rule 3: /health/deep says CRITICAL = deployed to the wrong env


async def check(incident: Incident, probes: Probes, *endpoints: Endpoint) -> list[HttpCheck]:
    """Probe the incident's service at each endpoint, concurrently; answers in the order asked."""
    return list(await asyncio.gather(*(probes.endpoint(incident.service, e) for e in endpoints)))


async def both(a: Awaitable[A], b: Awaitable[B]) -> tuple[A, B]:
    """Run two probes concurrently (a P0 diagnosis should not wait for them in turn)."""
    return await asyncio.gather(a, b)


async def three(a: Awaitable[A], b: Awaitable[B], c: Awaitable[C]) -> tuple[A, B, C]:
    """Run three probes concurrently; answers in the order given."""
    return await asyncio.gather(a, b, c)


def healthy(first: HttpCheck, *rest: HttpCheck) -> bool:
    """Every check ran and answered 2xx: the service looks recovered."""
    return all(c.ok for c in (first, *rest))


def wrong_environment(deep: HttpCheck) -> bool:
    """The deep check's body names the hard guard's verdict; case matters ("critical_tables")."""
    return WRONG_ENVIRONMENT in deep.body


def mentions(signs: tuple[str, ...], *texts: str) -> bool:
    """Any sign appears in any text, ignoring case (alert summaries, probe bodies)."""
    return any(sign.lower() in text.lower() for sign in signs for text in texts)
