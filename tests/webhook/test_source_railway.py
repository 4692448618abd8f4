"""The Railway source: deployment webhooks in the older DEPLOY and newer Deployment.* shapes,
alert events by their envelope, and the URL token that stands in for a signature."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from core.errors import BadCredentials, UnparseablePayload
from core.models import Source
from core.settings import Settings
from tests.conftest import fixture_bytes, fixture_names
from tests.support.senders import RAILWAY_TOKEN
from webhook.sources.base import Delivery
from webhook.sources.railway import PARSER, parse

NEW_KEY = "<environment id>:<service id>"  # the docs sample's placeholders
OLD_KEY = "[environment ID]:[service ID]"
RESOLVE_ALL = ["failed", "crashed", "oom"]

# fixture -> (name, fingerprint, firing) of each alert it raises
EXPECTED: dict[str, list[tuple[str, str, bool]]] = {
    "docs-legacy-format-DEPLOY-example.json": [],  # no status in the docs sample: nothing to say
    "docs-new-format-example-deployment-failed.json": [
        ("DeploymentFailed", f"railway:failed:{NEW_KEY}", True)
    ],
    "observed-test-webhook-deployed-empty-details.json": [],  # the Test Webhook names no service
    "derived-legacy-format-DEPLOY-building.json": [],
    "derived-legacy-format-DEPLOY-crashed.json": [
        ("DeploymentCrashed", f"railway:crashed:{OLD_KEY}", True)
    ],
    "derived-legacy-format-DEPLOY-failed.json": [
        ("DeploymentFailed", f"railway:failed:{OLD_KEY}", True)
    ],
    "derived-legacy-format-DEPLOY-success.json": [
        (name, f"railway:{kind}:{OLD_KEY}", False)
        for name, kind in zip(
            ["DeploymentFailed", "DeploymentCrashed", "DeploymentOOMKilled"],
            RESOLVE_ALL,
            strict=True,
        )
    ],
    "derived-new-format-deployment-building.json": [],
    "derived-new-format-deployment-crashed.json": [
        ("DeploymentCrashed", f"railway:crashed:{NEW_KEY}", True)
    ],
    "derived-new-format-deployment-deployed.json": [
        (name, f"railway:{kind}:{NEW_KEY}", False)
        for name, kind in zip(
            ["DeploymentFailed", "DeploymentCrashed", "DeploymentOOMKilled"],
            RESOLVE_ALL,
            strict=True,
        )
    ],
    "derived-new-format-deployment-oomKilled.json": [
        ("DeploymentOOMKilled", f"railway:oom:{NEW_KEY}", True)
    ],
}


def test_every_fixture_has_an_expectation() -> None:
    """A fixture added without saying what it means fails here, not silently."""
    assert sorted(EXPECTED) == fixture_names("railway")


@pytest.mark.parametrize("name", fixture_names("railway"))
def test_every_fixture_parses_into_the_expected_alerts(name: str) -> None:
    """Each body becomes the alerts it stands for, all of them unsigned."""
    alerts = parse(fixture_bytes("railway", name))
    assert [(a.name, a.fingerprint, a.firing) for a in alerts] == EXPECTED[name]
    assert all(a.source is Source.RAILWAY and not a.signed for a in alerts)


def test_a_success_reports_its_deployment_once_and_names_the_service() -> None:
    """SUCCESS carries the deployment id (kept per service by the store) on one alert only."""
    alerts = parse(fixture_bytes("railway", "derived-new-format-deployment-deployed.json"))
    assert [a.deployment for a in alerts] == ["<deployment id>", "", ""]
    assert {a.service for a in alerts} == {"<service name>"}


def test_failure_fingerprints_are_per_service_and_environment_not_per_deployment() -> None:
    """A new deployment failing for the same service is the same alert, so SUCCESS resolves it."""
    payload = json.loads(fixture_bytes("railway", "docs-new-format-example-deployment-failed.json"))
    (first,) = parse(json.dumps(payload).encode())
    payload["resource"]["deployment"]["id"] = "another-deployment"
    payload["timestamp"] = "2025-11-22T00:00:00.000Z"
    (second,) = parse(json.dumps(payload).encode())
    payload["resource"]["environment"]["id"] = "staging-environment"
    (elsewhere,) = parse(json.dumps(payload).encode())
    assert first.fingerprint == second.fingerprint != elsewhere.fingerprint
    assert first.starts_at != second.starts_at  # a new failure, not a re-delivery


def test_labels_say_where_and_never_set_a_severity() -> None:
    """Environment, project and commit become labels; Railway's severity is not a P-level."""
    (alert,) = parse(fixture_bytes("railway", "docs-new-format-example-deployment-failed.json"))
    assert alert.labels["environment"] == "<environment name>"
    assert alert.labels["railway_severity"] == "WARNING"
    assert alert.labels["railway_event"] == "Deployment.failed"
    assert "severity" not in alert.labels


def new_format(type_: str, **changes: Any) -> bytes:
    payload = json.loads(fixture_bytes("railway", "docs-new-format-example-deployment-failed.json"))
    payload["type"] = type_
    payload.update(changes)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("type_", "names"),
    [
        ("Deployment.oom_killed", ["DeploymentOOMKilled"]),
        ("deployment.FAILED", ["DeploymentFailed"]),
        ("Deployment.redeployed", ["DeploymentFailed", "DeploymentCrashed", "DeploymentOOMKilled"]),
    ],
)
def test_event_names_are_read_without_regard_to_case_or_underscores(
    type_: str, names: list[str]
) -> None:
    """Railway's event spellings vary (oomKilled, oom_killed): all of them count."""
    assert [a.name for a in parse(new_format(type_))] == names


@pytest.mark.parametrize(
    "type_",
    ["Deployment.building", "Deployment.deploying", "Deployment.removed", "Deployment.slept",
     "Deployment.queued", "Deployment.needsApproval", "Deployment.restarted", "Project.updated",
     "ALERT", "VOLUME_USAGE"],
)  # fmt: skip
def test_progress_and_unknown_events_are_acknowledged_and_ignored(type_: str) -> None:
    """Progress states and types plantão does not know raise nothing and are logged."""
    with capture_logs() as logs:
        assert parse(new_format(type_)) == []
    assert logs == [
        {"event": "delivery.ignored", "log_level": "info", "source": "railway", "type": type_}
    ]


def test_alert_events_open_and_close_by_their_envelope() -> None:
    """`<Kind>.triggered` fires and `<Kind>.resolved` resolves one alert per kind and service."""
    details = {"id": "a1", "message": "Volume at 91%", "threshold": 90}
    (fired,) = parse(new_format("VolumeAlert.triggered", details=details))
    (resolved,) = parse(new_format("VolumeAlert.resolved", details=details))
    assert fired.name == "RailwayVolumeAlert" and fired.firing and not resolved.firing
    assert fired.fingerprint == resolved.fingerprint == f"railway:volumealert:{NEW_KEY}"
    assert "message: Volume at 91%" in fired.description


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (b"[]", "body"),
        (b"{}", "body"),
        (b'{"type": 7}', "body"),
        (b'{"type": "Deployment.failed", "resource": []}', "resource"),
        (json.dumps({"type": "DEPLOY", "service": {"id": "x" * 201}}).encode(), "service.id"),
        (b"\xff\xfe", "json"),
    ],
)
def test_malformed_bodies_are_refused_naming_the_field(raw: bytes, names: str) -> None:
    """A body that is not a Railway webhook is a 422 naming what is wrong."""
    with pytest.raises(UnparseablePayload) as caught:
        parse(raw)
    assert names in str(caught.value).lower()


def settings(token: str | None = RAILWAY_TOKEN) -> Settings:
    secret = None if token is None else SecretStr(token)
    return Settings(_env_file=None, railway_webhook_token=secret)  # type: ignore[call-arg]


def test_the_url_token_is_the_credential() -> None:
    """?token=RAILWAY_WEBHOOK_TOKEN passes; anything else is refused."""
    PARSER.verify(Delivery({}, {"token": RAILWAY_TOKEN}, b"{}"), settings())
    for query in ({}, {"token": ""}, {"token": RAILWAY_TOKEN[:-1]}, {"token": RAILWAY_TOKEN + "x"}):
        with pytest.raises(BadCredentials):
            PARSER.verify(Delivery({}, query, b"{}"), settings())


@pytest.mark.parametrize("configured", [None, ""])
def test_without_a_configured_token_railway_is_closed(configured: str | None) -> None:
    """An unsigned source with no token would be open to anyone: it refuses, naming the fix."""
    with pytest.raises(BadCredentials, match="RAILWAY_WEBHOOK_TOKEN is not set"):
        PARSER.verify(Delivery({}, {"token": ""}, b"{}"), settings(configured))
