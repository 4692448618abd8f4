"""Handler test kit: an Incident factory, canned HttpChecks, and FakeProbes that records calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from core.models import CATALOG_SEVERITY, Incident, IncidentState, Scenario, Source
from handlers.types import Endpoint, HttpCheck

SERVICE = "backend"
T0 = datetime(2025, 11, 15, 3, 0, tzinfo=UTC)  # 03:00, when runbooks get read


def _url(endpoint: Endpoint) -> str:
    return f"http://{SERVICE}.test/{endpoint}"


def ok(endpoint: Endpoint, body: str = '{"status":"ok"}', latency_ms: float = 40.0) -> HttpCheck:
    return HttpCheck(endpoint, _url(endpoint), 200, latency_ms, body=body)


def failing(
    endpoint: Endpoint, status: int = 503, body: str = "", latency_ms: float = 40.0
) -> HttpCheck:
    return HttpCheck(endpoint, _url(endpoint), status, latency_ms, body=body)


def unreachable(endpoint: Endpoint) -> HttpCheck:
    return HttpCheck(endpoint, _url(endpoint), error="ConnectError: connection refused")


def unprobed(endpoint: Endpoint) -> HttpCheck:
    """What the worker's probes answer for a service with no URL in PLANTAO_CONFIG."""
    return HttpCheck(endpoint, None, error=f"service {SERVICE!r} has no url in PLANTAO_CONFIG")


@dataclass
class FakeProbes:
    """Probes answering from a table (unprobed when absent) and recording every call."""

    answers: dict[Endpoint, HttpCheck] = field(default_factory=dict)
    calls: list[tuple[str, Endpoint]] = field(default_factory=list)

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck:
        self.calls.append((service, endpoint))
        return self.answers.get(endpoint, unprobed(endpoint))


MakeIncident = Callable[..., Incident]


@pytest.fixture
def make_incident() -> MakeIncident:
    """Factory: a triggered incident of a scenario on SERVICE; keywords override any field."""

    def make(scenario: Scenario = Scenario.UNKNOWN, **changes: Any) -> Incident:
        fields: dict[str, Any] = {
            "id": "inc-1",
            "service": SERVICE,
            "scenario": scenario,
            "severity": CATALOG_SEVERITY[scenario],
            "state": IncidentState.TRIGGERED,
            "summary": f"{scenario} fired",
            "rule": "test",
            "why": "a test rule",
            "source": Source.ALERTMANAGER,
            "first_seen": T0,
            "last_seen": T0,
            "alert_count": 1,
        }
        fields.update(changes)
        return Incident(**fields)

    return make
