"""Properties of every parser under generated input: any bytes or JSON give alerts or a 422,
never another exception; a fingerprint does not depend on key order, spacing or escaping; and
distinct alerts get distinct fingerprints. Unicode, missing optional fields and huge label sets
included."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import PlantaoConfig
from core.errors import UnparseablePayload
from core.models import Alert
from tests.support.fuzz import NAME, TEXT, dumps, fuzz_settings, json_values
from webhook.classify import Classifier
from webhook.sources import SOURCES

CLASSIFIER = Classifier.from_config(PlantaoConfig())
VOCABULARY = st.sampled_from(
    ["version", "status", "alerts", "labels", "annotations", "alertname", "fingerprint",
     "action", "data", "issue", "event", "error", "metric_alert", "alert_rule", "installation",
     "id", "title", "project", "url", "type", "resource", "service", "environment", "details",
     "deployment", "timestamp", "exception", "values", "triggered_rule", "firstSeen"]
) | NAME  # fmt: skip
PARSERS = sorted(SOURCES.values(), key=lambda p: p.source)


def parse_or_refuse(source: str, body: bytes) -> list[Alert] | None:
    """The alerts, or None when refused with UnparseablePayload (any other exception fails)."""
    try:
        alerts = SOURCES[source].parse(body)  # type: ignore[index]
    except UnparseablePayload:
        return None
    for alert in alerts:
        CLASSIFIER.classify(alert)
        alert.model_dump_json()  # what the store writes must serialise
    return alerts


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with each field present or absent."""
    return st.fixed_dictionaries({}, optional=fields)


@pytest.mark.parametrize("source", [p.source.value for p in PARSERS])
@fuzz_settings(150)
@given(
    raw=st.binary(max_size=300) | json_values(VOCABULARY).map(lambda v: dumps(v, random.Random(0)))
)
def test_any_input_gives_alerts_or_a_422(source: str, raw: bytes) -> None:
    """Random bytes and random JSON built from the vendors' field names never crash a parser."""
    alerts = parse_or_refuse(source, raw)
    assert alerts is None or all(a.source == source for a in alerts)


# --- Alertmanager ----------------------------------------------------------------------------

LABELS = st.dictionaries(NAME, TEXT, max_size=20)
AM_ALERT = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]), "labels": LABELS},
    optional={
        "annotations": st.dictionaries(NAME, TEXT, max_size=4),
        "startsAt": TEXT,
        "generatorURL": TEXT,
    },
)


def am_body(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "plantao", "alerts": alerts}


@fuzz_settings(60)
@given(
    names=st.lists(TEXT.filter(bool), min_size=1, max_size=4, unique=True),
    alert=AM_ALERT,
    seeds=st.tuples(st.integers(), st.integers()),
)
def test_alertmanager_keys_are_stable_and_distinct(
    names: list[str], alert: dict[str, Any], seeds: tuple[int, int]
) -> None:
    """Without vendor fingerprints, keys hash the label set: same labels in any order give the
    same key, different label sets different keys."""
    alerts = [{**alert, "labels": {**alert["labels"], "alertname": n}} for n in names]
    one = parse_or_refuse("alertmanager", dumps(am_body(alerts), random.Random(seeds[0])))
    two = parse_or_refuse("alertmanager", dumps(am_body(alerts), random.Random(seeds[1])))
    assert one is not None and two is not None
    assert [a.fingerprint for a in one] == [a.fingerprint for a in two]
    assert len({a.fingerprint for a in one}) == len(names)


@fuzz_settings(10)
@given(
    words=st.lists(TEXT, min_size=1, max_size=8),
    size=st.integers(min_value=500, max_value=3000),
    seed=st.integers(),
)
def test_alertmanager_survives_a_huge_label_set(words: list[str], size: int, seed: int) -> None:
    """Thousands of labels parse, classify and keep an order-independent key."""
    rnd = random.Random(seed)  # hypothesis draws the vocabulary; the bulk is expanded from it
    labels = {f"{rnd.choice(['l', 'x_', 'Label'])}{i}": rnd.choice(words) for i in range(size)}
    alert = {"status": "firing", "labels": {**labels, "alertname": "Huge"}}
    one = parse_or_refuse("alertmanager", dumps(am_body([alert]), random.Random(seed)))
    two = parse_or_refuse("alertmanager", dumps(am_body([alert]), random.Random(seed + 1)))
    assert one is not None and two is not None and one[0].fingerprint == two[0].fingerprint
    assert len(one[0].labels) == size + 1


# --- Sentry ----------------------------------------------------------------------------------

IDS = st.from_regex(r"[1-9][0-9]{0,18}", fullmatch=True)
ISSUE = optional(
    title=TEXT,
    culprit=TEXT | st.none(),
    shortId=TEXT,
    level=st.sampled_from(["error", "fatal", "warning"]),
    firstSeen=TEXT,
    permalink=TEXT | st.none(),
    metadata=optional(type=TEXT, value=TEXT, filename=TEXT),
    project=optional(id=IDS, slug=TEXT, name=TEXT),
    status=TEXT,
)
EVENT = optional(
    title=TEXT,
    culprit=TEXT,
    message=TEXT,
    datetime=TEXT,
    timestamp=st.floats(allow_nan=False, allow_infinity=False),
    url=TEXT,
    level=TEXT,
    environment=TEXT,
    exception=optional(values=st.lists(optional(type=TEXT, value=TEXT, module=TEXT), max_size=4)),
)
ACTIONS = st.sampled_from(["created", "resolved", "unresolved", "assigned", "ignored"]) | TEXT


def sentry_bodies(issue_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Every Sentry shape that names `issue_id` (so all must key on `sentry:issue:<id>`)."""
    envelope = {"installation": st.just({"uuid": "a8e5d37a"}), "actor": st.just({"id": "sentry"})}
    return st.one_of(
        st.fixed_dictionaries(
            {"action": ACTIONS, "data": ISSUE.map(lambda i: {"issue": {**i, "id": issue_id}})},
            optional=envelope,
        ),
        st.fixed_dictionaries(
            {
                "action": st.just("triggered"),
                "data": EVENT.map(lambda e: {"event": {**e, "issue_id": issue_id}}),
            },
            optional=envelope,
        ),
        st.fixed_dictionaries(
            {
                "action": st.just("created"),
                "data": EVENT.map(lambda e: {"error": {**e, "issue_id": issue_id}}),
            },
            optional=envelope,
        ),
        st.fixed_dictionaries(
            {"id": st.just(issue_id), "project": TEXT, "url": TEXT, "event": EVENT},
            optional={
                "message": TEXT,
                "culprit": TEXT,
                "level": TEXT,
                "triggering_rules": st.lists(TEXT),
            },
        ),
    )


@fuzz_settings(80)
@given(data=st.data(), issue_ids=st.lists(IDS, min_size=1, max_size=3, unique=True))
def test_sentry_keys_follow_the_issue_whatever_the_shape(
    data: st.DataObject, issue_ids: list[str]
) -> None:
    """Issue, event_alert, error and legacy bodies about one issue share `sentry:issue:<id>` in
    any key order; different issues never share a key."""
    keys: dict[str, set[str]] = {}
    for issue_id in issue_ids:
        body = data.draw(sentry_bodies(issue_id))
        seeds = data.draw(st.tuples(st.integers(), st.integers()))
        one = parse_or_refuse("sentry", dumps(body, random.Random(seeds[0])))
        two = parse_or_refuse("sentry", dumps(body, random.Random(seeds[1])))
        assert one is not None and two is not None
        assert [a.fingerprint for a in one] == [a.fingerprint for a in two]
        keys[issue_id] = {a.fingerprint for a in one}
        assert keys[issue_id] <= {f"sentry:issue:{issue_id}"}
    assert len(set().union(*keys.values())) == sum(len(v) for v in keys.values())


@fuzz_settings(40)
@given(
    incident_ids=st.lists(IDS, min_size=1, max_size=3, unique=True),
    action=st.sampled_from(["critical", "warning", "resolved"]),
    rule=optional(name=TEXT, aggregate=TEXT | st.none(), dataset=TEXT, projects=st.lists(TEXT)),
    seed=st.integers(),
)
def test_sentry_metric_alert_keys_follow_the_sentry_incident(
    incident_ids: list[str], action: str, rule: dict[str, Any], seed: int
) -> None:
    """Metric alerts key on Sentry's incident id alone, whatever else the rule says."""
    rnd = random.Random(seed)
    keys = []
    for incident in incident_ids:
        body = {"action": action, "data": {"metric_alert": {"id": incident, "alert_rule": rule}}}
        alerts = parse_or_refuse("sentry", dumps(body, rnd))
        assert alerts is not None
        keys += [a.fingerprint for a in alerts]
    assert keys == [f"sentry:metric_alert:{i}" for i in incident_ids]


# --- Railway ---------------------------------------------------------------------------------

REF = optional(id=TEXT, name=TEXT)
EVENTS = st.sampled_from(
    ["failed", "crashed", "oomKilled", "oom_killed", "deployed", "redeployed", "building",
     "removed", "slept"]
) | NAME  # fmt: skip


@fuzz_settings(80)
@given(
    services=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=3, unique=True),
    event=EVENTS,
    details=optional(id=TEXT, status=TEXT, commitMessage=TEXT, branch=TEXT, note=TEXT),
    project=REF,
    optional_fields=optional(severity=TEXT, timestamp=TEXT),
    seeds=st.tuples(st.integers(), st.integers()),
)
def test_railway_keys_are_per_environment_and_service(
    services: list[tuple[str, str]],
    event: str,
    details: dict[str, Any],
    project: dict[str, str],
    optional_fields: dict[str, str],
    seeds: tuple[int, int],
) -> None:
    """Deployment alerts key on (environment id, service id) in any key order; other
    environments or services never share a key."""
    keys: set[str] = set()
    for env_id, service_id in services:
        body = {
            "type": f"Deployment.{event}",
            "details": details,
            "resource": {
                "project": project,
                "environment": {"id": env_id, "name": "production"},
                "service": {"id": service_id, "name": "api"},
                "deployment": {"id": "d-1"},
            },
            **optional_fields,
        }
        one = parse_or_refuse("railway", dumps(body, random.Random(seeds[0])))
        two = parse_or_refuse("railway", dumps(body, random.Random(seeds[1])))
        assert one is not None and two is not None
        assert [a.fingerprint for a in one] == [a.fingerprint for a in two]
        found = {a.fingerprint for a in one}
        assert not found & keys
        keys |= found


@fuzz_settings(60)
@given(
    status=st.sampled_from(["BUILDING", "DEPLOYING", "SUCCESS", "FAILED", "CRASHED", "REMOVED"])
    | TEXT,
    legacy=optional(
        project=REF,
        environment=REF,
        service=REF,
        timestamp=TEXT,
        deployment=optional(id=TEXT, meta=optional(commitHash=TEXT, commitMessage=TEXT)),
    ),
)
def test_railway_old_shape_with_missing_fields_never_crashes(
    status: str, legacy: dict[str, Any]
) -> None:
    """The older DEPLOY shape parses with any of its fields missing."""
    alerts = parse_or_refuse(
        "railway", dumps({"type": "DEPLOY", "status": status, **legacy}, random.Random(0))
    )
    assert alerts is not None
    assert all(not a.signed for a in alerts)
