"""The Alertmanager webhook v4 parser, against bodies captured from the real Alertmanager 0.25."""

from __future__ import annotations

import json

import pytest

from core.errors import UnparseablePayload
from core.models import Source
from tests.conftest import fixture_bytes, fixture_names
from webhook.sources.alertmanager import parse


@pytest.mark.parametrize("name", fixture_names("alertmanager"))
def test_every_fixture_parses_into_one_alert_per_vendor_alert(name: str) -> None:
    """Each alert of a captured group becomes one Alert with a source-scoped fingerprint."""
    body = fixture_bytes("alertmanager", name)
    alerts = parse(body)
    raw = json.loads(body)["alerts"]
    assert len(alerts) == len(raw)
    for alert, vendor in zip(alerts, raw, strict=True):
        assert alert.source is Source.ALERTMANAGER
        assert alert.fingerprint == f"alertmanager:{vendor['fingerprint']}"
        assert alert.name == vendor["labels"]["alertname"]
        assert alert.firing == (vendor["status"] == "firing")


def test_a_firing_group_can_carry_a_resolved_alert() -> None:
    """Each alert's own status counts, not the group's (Alertmanager mixes them)."""
    alerts = parse(
        fixture_bytes("alertmanager", "captured-am025-firing-group-with-one-resolved.json")
    )
    assert [a.firing for a in alerts] == [True, False, True]


def test_service_summary_link_and_expression_are_read() -> None:
    """The service label, the summary annotation and the rule's expression reach the Alert."""
    (first, _) = parse(
        fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
    )
    assert first.service == "worker"
    assert first.summary
    assert first.link.startswith("http://")
    assert first.expr == 'up{job="worker"} == 0'


def _body(**changes: object) -> bytes:
    payload = json.loads(
        fixture_bytes("alertmanager", "captured-am025-firing-bearer-single-alert.json")
    )
    payload.update(changes)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (_body(version="3"), "version"),
        (_body(alerts=[]), "alerts"),
        (_body(alerts=[{"status": "firing", "labels": {"x": "y"}}]), "alerts.0.labels.alertname"),
        (_body(alerts=[{"status": "burning", "labels": {"alertname": "A"}}]), "alerts.0.status"),
        (b"{not json", "json"),
        (b"[]", "body"),
    ],
)
def test_malformed_bodies_are_refused_naming_the_field(body: bytes, names: str) -> None:
    """A bad body raises UnparseablePayload (422) whose message names what is wrong."""
    with pytest.raises(UnparseablePayload) as caught:
        parse(body)
    assert names in str(caught.value).lower()


def test_missing_fingerprint_falls_back_to_a_stable_label_hash() -> None:
    """Older Alertmanagers send no fingerprint; the key then comes from the labels, in any order."""
    a = {"status": "firing", "labels": {"alertname": "A", "service": "api"}}
    b = {"status": "firing", "labels": {"service": "api", "alertname": "A"}}
    (one,) = parse(_body(alerts=[a]))
    (two,) = parse(_body(alerts=[b]))
    (other,) = parse(_body(alerts=[{"status": "firing", "labels": {"alertname": "B"}}]))
    assert one.fingerprint == two.fingerprint != other.fingerprint
