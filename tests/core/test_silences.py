"""Silence matchers and maintenance windows: what they cover, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from core.config import MaintenanceWindow
from core.models import Alert, Classification, Scenario, Severity, Source
from core.silences import Matcher, Silence, silencer, window_active

ALERT = Alert(
    source=Source.ALERTMANAGER,
    fingerprint="alertmanager:x",
    name="HighLatency",
    service="api",
    firing=True,
    summary="slow",
    labels={"env": "staging"},
)
FOUND = Classification(scenario=Scenario.API_HIGH_LATENCY, severity=Severity.P1, rule="r", why="w")


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("service=api", True),
        ("service=API", True),
        ("service=web", False),
        ("scenario=~api_.*", True),
        ("severity=P1", True),
        ("source=sentry", False),
        ("alertname=HighLatency", True),
        ("label:env=~stag.*", True),
        ("label:region=eu", False),
    ],
)
def test_matchers(text: str, matches: bool) -> None:
    """field=value is exact without case; =~ is a full regex match; missing labels never match."""
    assert Matcher.parse(text).matches(ALERT, FOUND) is matches


@pytest.mark.parametrize("text", ["service", "colour=red", "service=~("])
def test_bad_matchers_are_refused(text: str) -> None:
    """A matcher that cannot mean anything is an error, never a silence of everything."""
    with pytest.raises((ValueError, ValidationError)):
        Matcher.parse(text)


def silence(start_offset_min: int, length_min: int, *matchers: str) -> Silence:
    start = datetime.now(UTC) + timedelta(minutes=start_offset_min)
    return Silence(
        matchers=[Matcher.parse(m) for m in matchers],
        starts_at=start,
        ends_at=start + timedelta(minutes=length_min),
        author="ana",
        comment="deploying",
    )


def test_only_active_matching_silences_silence() -> None:
    """A silence counts between its start and end, for alerts all its matchers match."""
    active = silence(-5, 60, "service=api", "scenario=api_high_latency")
    future = silence(30, 60, "service=api")
    other = silence(-5, 60, "service=web")
    assert silencer([future, other, active], [], ALERT, FOUND) == active.id
    assert silencer([future, other], [], ALERT, FOUND) == ""


def test_recurring_maintenance_window_in_its_time_zone() -> None:
    """A weekly window (cron start + duration) is active during its duration, local time."""
    window = MaintenanceWindow(
        name="vacuum", service="api", cron="0 2 * * sun", duration_minutes=120
    )
    sunday_3am_sp = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # 03:00 in São Paulo (UTC-3)
    assert window_active(window, sunday_3am_sp)
    assert not window_active(window, sunday_3am_sp + timedelta(hours=2))
    assert not window_active(window, sunday_3am_sp - timedelta(days=1))


def test_one_off_maintenance_window_silences_its_service() -> None:
    """A one-off window for the alert's service silences it, named as maintenance."""
    now = datetime.now(UTC)
    window = MaintenanceWindow(
        name="db-upgrade",
        service="api",
        starts=now - timedelta(minutes=1),
        ends=now + timedelta(hours=1),
    )
    assert silencer([], [window], ALERT, FOUND) == "maintenance:db-upgrade"
    other = window.model_copy(update={"service": "web"})
    assert silencer([], [other], ALERT, FOUND) == ""


def test_a_window_needs_either_cron_or_both_ends() -> None:
    """Half a window is a configuration error."""
    with pytest.raises(ValidationError):
        MaintenanceWindow(name="x", service="api", starts=datetime.now(UTC))
    with pytest.raises(ValidationError):
        MaintenanceWindow(name="x", service="api", cron="0 2 * * *", timezone="Mars/Olympus")
