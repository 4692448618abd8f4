"""The incident state machine: allowed transitions pass, the rest are refused with a reason."""

from __future__ import annotations

import pytest

from core.lifecycle import refusal
from core.models import IncidentState as S

ALLOWED = [
    (S.TRIGGERED, S.ACKNOWLEDGED),
    (S.TRIGGERED, S.MITIGATING),
    (S.ACKNOWLEDGED, S.MITIGATING),
    (S.MITIGATING, S.MONITORING),
    (S.MONITORING, S.MITIGATING),
    (S.MONITORING, S.RESOLVED),
    (S.TRIGGERED, S.RESOLVED),
    (S.ACKNOWLEDGED, S.RESOLVED),
]
REFUSED = [
    (S.ACKNOWLEDGED, S.ACKNOWLEDGED, "already acknowledged"),
    (S.RESOLVED, S.ACKNOWLEDGED, "cannot go from resolved to acknowledged"),
    (S.RESOLVED, S.RESOLVED, "already resolved"),
    (S.MITIGATING, S.ACKNOWLEDGED, "only from triggered"),
    (S.RESOLVED, S.TRIGGERED, "nothing a person can ask for"),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transitions_pass(current: S, target: S) -> None:
    """The documented path and a hand resolution from any open state are allowed."""
    assert refusal(current, target) is None


@pytest.mark.parametrize(("current", "target", "reason"), REFUSED)
def test_invalid_transitions_say_why(current: S, target: S, reason: str) -> None:
    """A refused transition explains itself."""
    assert reason in (refusal(current, target) or "")
