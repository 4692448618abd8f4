"""What a handler is: a read-only `diagnose` through Probes and a pure `plan` of typed Steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from core.models import Incident, Scenario
from handlers.actions import Action


class Policy(StrEnum):
    AUTO = "auto"  # runs without a human (still subject to dry-run, cooldown, pause)
    APPROVE = "approve"  # proposed in Slack, runs after a responder presses Approve
    NEVER = "never"  # shown with the reason, never run


class Endpoint(StrEnum):
    """The health endpoints of runbook 001 ("Health checks")."""

    HEALTH = "health"
    READY = "ready"
    DEEP = "deep"


@dataclass(frozen=True)
class HttpCheck:
    """The result of one HTTP probe; a probe that could not run says why in `error`."""

    endpoint: Endpoint
    url: str | None
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    body: str = ""  # the first characters of the answer, for evidence

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def ran(self) -> bool:
        return self.url is not None and (self.status is not None or self.error is not None)

    def describe(self) -> str:
        if self.url is None:
            return f"{self.endpoint}: not probed ({self.error})"
        if self.status is None:
            return f"{self.endpoint}: {self.url} failed: {self.error}"
        return f"{self.endpoint}: {self.url} -> {self.status} in {self.latency_ms:.0f} ms"


class Probes(Protocol):
    """Read-only checks a handler may run; the worker implements them with real clients."""

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck: ...


@dataclass(frozen=True)
class Step:
    action: Action  # a member of the closed union in handlers/actions.py
    policy: Policy
    why: str  # one line a responder reads in Slack, citing the runbook
    verify: Endpoint | None = None  # re-probed after the action; failing it escalates


F = TypeVar("F")


@dataclass(frozen=True)
class Handler(Generic[F]):
    scenario: Scenario
    diagnose: Callable[[Incident, Probes], Awaitable[F]]  # read-only I/O through Probes
    plan: Callable[[Incident, F], list[Step]]  # pure: no I/O, no clock reads
