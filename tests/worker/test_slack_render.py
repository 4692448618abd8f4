"""The incident room's Block Kit: valid against Slack's models, within Slack's limits, localised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from core.models import Incident, IncidentState, Scenario, Severity, Source
from worker.slack_render import (
    StepView,
    render_notification,
    render_reply,
    render_resolution,
    render_room,
)

AT = datetime(2025, 3, 12, 12, 0, tzinfo=UTC)


def incident(**changes: Any) -> Incident:
    base: dict[str, Any] = {
        "id": "42",
        "service": "api",
        "scenario": Scenario.DATABASE_DOWN,
        "severity": Severity.P0,
        "state": IncidentState.TRIGGERED,
        "summary": "Postgres unreachable <from pool>",
        "rule": "db-down",
        "why": "rule db-down: alertname=PostgresDown",
        "source": Source.ALERTMANAGER,
        "first_seen": AT,
        "last_seen": AT,
        "links": {"sentry": "https://sentry.io/issues/1", "railway": "https://railway.app/d/2"},
    }
    base.update(changes)
    return Incident(**base)


def assert_valid(blocks: list[dict[str, Any]]) -> None:
    """Each block parses as Slack's model, passes its validation, and round-trips unchanged."""
    assert 0 < len(blocks) <= 50
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict() == raw


STEPS = [
    StepView("RestartService:abc", "restart service `api`", "approve", "004 S1", "pending"),
    StepView("Advise:def", "check the pool", "never", "read-only"),
]


@pytest.mark.parametrize("locale", ["en", "pt-BR"])
def test_the_incident_message_is_valid_block_kit_with_buttons(locale: Any) -> None:
    """Severity and scenario lead; buttons for ack/escalate/resolve/silence and per step."""
    message = render_room(incident(), ["health: down"], STEPS, ["collected evidence"], locale)
    assert_valid(message.blocks)
    assert message.blocks[0]["text"]["text"].startswith("🔴 P0 · database_down")
    actions = [
        e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert actions == [
        "plantao:approve",
        "plantao:reject",
        "plantao:ack",
        "plantao:escalate",
        "plantao:resolve",
        "plantao:silence",
    ]
    approve = message.blocks[[b["type"] for b in message.blocks].index("actions")]
    assert approve["elements"][0]["value"] == "42|RestartService:abc"
    assert "&lt;from pool&gt;" in str(message.blocks)  # Slack's control characters escaped


def test_long_content_is_cut_with_a_link_and_within_limits() -> None:
    """Thousands of findings and many steps stay within 50 blocks and 3,000 characters each."""
    steps = [StepView(f"k{n}", f"step {n}", "approve", "x" * 500, "pending") for n in range(40)]
    findings = [f"finding {n}: " + "y" * 200 for n in range(100)]
    message = render_room(
        incident(summary="z" * 5000), findings, steps, [], "en", "https://plantao.example"
    )
    assert_valid(message.blocks)
    assert "https://plantao.example/api/incidents/42" in str(message.blocks)


def test_a_resolved_incident_has_no_buttons_and_says_who_acknowledged() -> None:
    """Once resolved, the message keeps its content and loses its buttons."""
    done = incident(state=IncidentState.RESOLVED, acknowledged_by="slack:U1 (ana)", resolved_at=AT)
    message = render_room(done, [], STEPS[:1], [], "en")
    assert_valid(message.blocks)
    assert not [b for b in message.blocks if b["type"] == "actions"]
    assert "slack:U1 (ana)" in str(message.blocks)


@pytest.mark.parametrize(
    ("locale", "phrase"),
    [
        ("en", "We apologise for the inconvenience."),
        ("pt-BR", "Pedimos desculpas pelo transtorno."),
    ],
)
def test_runbook_004_notification_and_resolution_in_both_languages(
    locale: Any, phrase: str
) -> None:
    """The users' notification and resolution texts of runbook 004 come in the chosen language."""
    opened = render_notification(incident(), locale, "`GET /api/incidents/42`")
    resolved = render_resolution(incident(resolved_at=AT), locale, "`GET /api/incidents/42`")
    reply = render_reply("Proposed steps", ["a" * 4000], locale, "`GET /api/incidents/42`")
    for message in (opened, resolved, reply):
        assert_valid(message.blocks)
    assert phrase in str(opened.blocks) and phrase in str(resolved.blocks)
    assert ("Sistema Normalizado" in str(resolved.blocks)) is (locale == "pt-BR")
