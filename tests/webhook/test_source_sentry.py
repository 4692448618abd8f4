"""The Sentry source: integration-platform and legacy-plugin bodies from Sentry's docs, its own
test mocks and captured deliveries, and the signature, timestamp and token checks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from core.errors import BadCredentials, StaleRequest, UnparseablePayload
from core.models import Source
from core.settings import Settings
from tests.conftest import fixture_bytes, fixture_names
from tests.support.senders import SENTRY_LEGACY_TOKEN, SENTRY_OLD_SECRET, SENTRY_SECRET, hmac_hex
from webhook.sources.base import Delivery
from webhook.sources.sentry import MAX_SKEW_S, parse, verify

# fixture -> (name, fingerprint, service, firing, signed) of each alert it raises
EXPECTED = {
    "docs-error-created.json": [
        ("SentryError", "sentry:issue:1170820242", "front-end", True, True)
    ],
    "docs-event_alert-triggered.json": [
        ("SentryEventAlert", "sentry:issue:1117540176", "front-end", True, True)
    ],
    "docs-installation-created.json": [],
    "docs-issue-created.json": [
        ("SentryIssue", "sentry:issue:1170820242", "front-end", True, True)
    ],
    "docs-metric_alert-resolved.json": [
        ("Too many errors", "sentry:metric_alert:4", "bar", False, True)
    ],
    "ipe-mocks-metric_alert-critical.json": [
        ("metric alert", "sentry:metric_alert:789", "unknown", True, True)
    ],
    "zulip-issue-created-exception.json": [
        ("SentryIssue", "sentry:issue:1635244907", "zulip-integration-testing", True, True)
    ],
    "zulip-issue-resolved.json": [
        ("SentryIssue", "sentry:issue:1638821441", "zulip-integration-testing", False, True)
    ],
    "zulip-legacy-webhooks-plugin-python-exception.json": [
        ("SentryLegacyAlert", "sentry:issue:4311163364", "python-raven", True, False)
    ],
}


def test_every_fixture_has_an_expectation() -> None:
    """A fixture added without saying what it means fails here, not silently."""
    assert sorted(EXPECTED) == fixture_names("sentry")


@pytest.mark.parametrize("name", fixture_names("sentry"))
def test_every_fixture_parses_into_the_expected_alerts(name: str) -> None:
    """Each real body becomes the alerts it stands for, with a source-scoped fingerprint."""
    alerts = parse(fixture_bytes("sentry", name))
    got = [(a.name, a.fingerprint, a.service, a.firing, a.signed) for a in alerts]
    assert got == EXPECTED[name]
    assert all(a.source is Source.SENTRY and a.summary for a in alerts)


def body(name: str, **changes: Any) -> bytes:
    """A fixture with top-level keys replaced, serialised compactly as Sentry sends it."""
    payload = json.loads(fixture_bytes("sentry", name))
    payload.update(changes)
    return json.dumps(payload, separators=(",", ":")).encode()


def issue_body(action: str, **issue: Any) -> bytes:
    payload = json.loads(fixture_bytes("sentry", "docs-issue-created.json"))
    payload["action"] = action
    payload["data"]["issue"].update(issue)
    return json.dumps(payload, separators=(",", ":")).encode()


def test_issue_created_and_resolved_share_the_fingerprint_so_resolution_pairs() -> None:
    """issue.resolved names the same alert issue.created opened, now not firing."""
    (opened,) = parse(issue_body("created"))
    (resolved,) = parse(issue_body("resolved", status="resolved"))
    assert opened.fingerprint == resolved.fingerprint == "sentry:issue:1170820242"
    assert (opened.firing, resolved.firing) == (True, False)
    assert opened.starts_at == resolved.starts_at  # the issue's firstSeen


def test_an_unresolved_issue_fires_again() -> None:
    """A regression (issue.unresolved) fires the issue's alert again."""
    (again,) = parse(issue_body("unresolved"))
    assert again.firing and again.fingerprint == "sentry:issue:1170820242"


@pytest.mark.parametrize("action", ["assigned", "ignored", "archived", "somethingnew"])
def test_issue_actions_that_change_nothing_are_ignored_and_logged(action: str) -> None:
    """Assigning or muting an issue in Sentry neither opens nor resolves anything here."""
    with capture_logs() as logs:
        assert parse(issue_body(action)) == []
    assert logs == [
        {
            "event": "delivery.ignored",
            "log_level": "info",
            "source": "sentry",
            "resource": "issue",
            "action": action,
        }
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "created", "data": {"installation": {"uuid": "x"}}, "installation": {}},
        {"action": "created", "data": {"comment": {"text": "hi"}}},
        {"action": "deleted", "data": {}},
        {"action": "whatever", "data": {"seer": {"run_id": 1}}, "actor": {"id": "sentry"}},
    ],
)
def test_installation_and_unknown_resources_are_acknowledged_without_alerts(
    payload: dict[str, Any],
) -> None:
    """Resources plantão does not act on parse to nothing (the route answers 202 accepted 0)."""
    with capture_logs() as logs:
        assert parse(json.dumps(payload).encode()) == []
    assert [entry["event"] for entry in logs] == ["delivery.ignored"]


def test_an_event_alert_is_attached_to_its_issue() -> None:
    """event_alert and issue deliveries about one issue share its fingerprint, so one
    issue.resolved resolves both."""
    (alert,) = parse(fixture_bytes("sentry", "docs-event_alert-triggered.json"))
    assert alert.fingerprint == "sentry:issue:1117540176"
    assert alert.labels["sentry_rule"] == "Very Important Alert Rule!"
    assert "ReferenceError: heck is not defined" in alert.description


def test_metric_alert_critical_warning_and_resolved_share_the_incident_fingerprint() -> None:
    """A Sentry metric incident keeps one fingerprint through critical, warning and resolved."""
    got = {
        action: parse(body("docs-metric_alert-resolved.json", action=action))[0]
        for action in ("critical", "warning", "resolved")
    }
    assert {a.fingerprint for a in got.values()} == {"sentry:metric_alert:4"}
    assert [a.firing for a in got.values()] == [True, True, False]
    assert got["critical"].labels["aggregate"] == "count()"


def test_the_legacy_plugin_is_unsigned_and_names_its_issue() -> None:
    """The plugin's alert is marked unsigned and links to the Sentry issue."""
    (alert,) = parse(fixture_bytes("sentry", "zulip-legacy-webhooks-plugin-python-exception.json"))
    assert not alert.signed
    assert alert.link.startswith("https://nitk-46.sentry.io/issues/4311163364/")
    assert alert.summary == "ZeroDivisionError: division by zero"


def test_client_tags_never_become_labels() -> None:
    """Event tags come from any client holding the public DSN: a `severity` tag sets nothing."""
    payload = json.loads(fixture_bytes("sentry", "docs-error-created.json"))
    payload["data"]["error"]["tags"] = [["severity", "P0"], ["service", "billing"]]
    (alert,) = parse(json.dumps(payload).encode())
    assert "severity" not in alert.labels and alert.service == "front-end"


def test_vendor_text_is_clipped_before_it_reaches_redis_and_slack() -> None:
    """A megabyte-long title is cut; the alert keeps a bounded size."""
    (alert,) = parse(issue_body("created", title="x" * 500_000, culprit="y" * 500_000))
    assert len(alert.summary) <= 300 and len(alert.description) <= 2000


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (b"{not json", "json"),
        (b"[]", "body"),
        (b'{"action": "created"}', "data"),
        (b'{"action": "created", "data": []}', "data"),
        (issue_body("created", id=""), "data.issue.id"),
        (issue_body("created", id="9" * 65), "data.issue.id"),
        (b'{"action": null, "data": {}}', "action"),
        (b'{"id": "1", "project": "p"}', "url"),
    ],
)
def test_malformed_bodies_are_refused_naming_the_field(raw: bytes, names: str) -> None:
    """A body that is neither a delivery nor a legacy plugin body is a 422 naming the field."""
    with pytest.raises(UnparseablePayload) as caught:
        parse(raw)
    assert names in str(caught.value).lower()


# --- verification -------------------------------------------------------------------------

BODY = fixture_bytes("sentry", "docs-issue-created.json")
LEGACY = fixture_bytes("sentry", "zulip-legacy-webhooks-plugin-python-exception.json")
SETTINGS = Settings(
    _env_file=None,  # type: ignore[call-arg]
    sentry_client_secret=SecretStr(SENTRY_SECRET),
    sentry_legacy_token=SecretStr(SENTRY_LEGACY_TOKEN),
)


def delivery(
    raw: bytes = BODY,
    *,
    secret: str = SENTRY_SECRET,
    at: float | None = None,
    query: dict[str, str] | None = None,
    **headers: str,
) -> Delivery:
    base = {
        "sentry-hook-timestamp": str(int(time.time() if at is None else at)),
        "sentry-hook-signature": hmac_hex(secret, raw),
    }
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return Delivery({k: v for k, v in base.items() if v != "-"}, query or {}, raw)


def test_a_signed_fresh_delivery_passes() -> None:
    """The hex HMAC-SHA256 of the raw body with the client secret, stamped now, is accepted."""
    assert verify(delivery(), SETTINGS) is None  # refusals raise BadCredentials / StaleRequest


def test_during_rotation_the_old_secret_still_verifies() -> None:
    """With SENTRY_CLIENT_SECRET_OLD set, deliveries signed with either secret pass (000 §1.2)."""
    rotating = SETTINGS.model_copy(
        update={"sentry_client_secret_old": SecretStr(SENTRY_OLD_SECRET)}
    )
    verify(delivery(secret=SENTRY_OLD_SECRET), rotating)
    verify(delivery(secret=SENTRY_SECRET), rotating)
    with pytest.raises(BadCredentials):
        verify(delivery(secret=SENTRY_OLD_SECRET), SETTINGS)  # once unset, the old one is refused


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (0, True),
        (-(MAX_SKEW_S - 10), True),
        (MAX_SKEW_S - 10, True),
        (-(MAX_SKEW_S + 10), False),
        (MAX_SKEW_S + 10, False),
    ],
)
def test_the_timestamp_must_be_within_the_allowed_skew_on_both_sides(
    offset: float, accepted: bool
) -> None:
    """Deliveries stamped more than MAX_SKEW_S in the past or the future are stale (400)."""
    d = delivery(at=time.time() + offset)
    if accepted:
        verify(d, SETTINGS)
    else:
        with pytest.raises(StaleRequest):
            verify(d, SETTINGS)


@pytest.mark.parametrize(
    "stamp", ["-", "", "soon", "1e9", "nan", "inf", " 1700000000", "-1", "١٢٣"]
)
def test_a_missing_or_non_numeric_timestamp_is_refused(stamp: str) -> None:
    """Only plain unix seconds count as a timestamp ("nan" would compare as fresh)."""
    with pytest.raises(StaleRequest):
        verify(delivery(sentry_hook_timestamp=stamp), SETTINGS)


def test_without_a_client_secret_signed_deliveries_are_refused() -> None:
    """Sentry is closed until SENTRY_CLIENT_SECRET is set, and the error says so."""
    with pytest.raises(BadCredentials, match="SENTRY_CLIENT_SECRET"):
        verify(delivery(), Settings(_env_file=None))  # type: ignore[call-arg]


def test_the_legacy_plugin_is_accepted_only_with_its_token() -> None:
    """An unsigned plugin body passes with ?token=SENTRY_LEGACY_TOKEN and not otherwise."""
    unsigned = {"sentry_hook_signature": "-", "sentry_hook_timestamp": "-"}
    verify(delivery(LEGACY, query={"token": SENTRY_LEGACY_TOKEN}, **unsigned), SETTINGS)
    for query in (
        {},
        {"token": ""},
        {"token": SENTRY_LEGACY_TOKEN + "x"},
        {"token": SENTRY_SECRET},
    ):
        with pytest.raises(BadCredentials):
            verify(delivery(LEGACY, query=query, **unsigned), SETTINGS)
    closed = SETTINGS.model_copy(update={"sentry_legacy_token": None})
    with pytest.raises(BadCredentials, match="SENTRY_LEGACY_TOKEN"):
        verify(delivery(LEGACY, query={"token": SENTRY_LEGACY_TOKEN}, **unsigned), closed)


def test_the_legacy_token_never_stands_in_for_a_signature() -> None:
    """An integration-platform body on the token URL without a signature is refused."""
    unsigned = {"sentry_hook_signature": "-", "sentry_hook_timestamp": "-"}
    with pytest.raises(BadCredentials, match="must carry Sentry-Hook-Signature"):
        verify(delivery(BODY, query={"token": SENTRY_LEGACY_TOKEN}, **unsigned), SETTINGS)
