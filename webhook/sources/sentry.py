"""Sentry webhooks. Integration-platform deliveries (issue, event_alert, metric_alert, error) carry
`Sentry-Hook-Signature`, the hex HMAC-SHA256 of the raw body with SENTRY_CLIENT_SECRET (or
SENTRY_CLIENT_SECRET_OLD while it is rotated, runbook 000 §1.2), and `Sentry-Hook-Timestamp`.
The legacy per-project WebHooks plugin cannot sign: it is accepted only on a URL carrying
`?token=SENTRY_LEGACY_TOKEN`, and its alerts are marked unsigned.

Sentry signs the body only, not the timestamp: the freshness check stops stale re-sends, and a
replayed body is a duplicate by its fingerprint and start, so it changes nothing.
"""

from __future__ import annotations

import re

import structlog

from core.errors import BadCredentials
from core.models import Alert, Source
from core.settings import Settings
from webhook.sources import sentry_wire as w
from webhook.sources.base import (
    TOKEN_PARAM,
    Delivery,
    SourceParser,
    clip,
    fresh,
    parse_as,
    signed_by_any,
    single,
    stable_fingerprint,
    url_token,
)

log = structlog.get_logger()

SIGNATURE, TIMESTAMP = "sentry-hook-signature", "sentry-hook-timestamp"
MAX_SKEW_S = 300.0  # Sentry stamps each attempt as it sends it (~1 s budget); 5 min for clock drift
SUMMARY_MAX, TEXT_MAX, LABEL_MAX = 300, 2000, 200  # Slack shows 3000 characters per block
ISSUE_FIRING = {"created": True, "unresolved": True, "resolved": False}  # assigned, ignored: no
METRIC_FIRING = {"critical": True, "warning": True, "resolved": False}
_PROJECT_IN_URL = re.compile(r"/projects/[^/]+/([^/]+)/")  # an event names its project by URL

_legacy_token = url_token(lambda s: s.sentry_legacy_token, "SENTRY_LEGACY_TOKEN")


def verify(delivery: Delivery, settings: Settings) -> None:
    signature = single(delivery.headers, SIGNATURE)
    if signature is None:
        if single(delivery.query, TOKEN_PARAM) is None:
            raise BadCredentials("missing Sentry-Hook-Signature (or the legacy plugin's ?token=)")
        _legacy_token(delivery, settings)
        if w.looks_like_envelope(delivery.body):  # the token must not stand in for a signature
            raise BadCredentials("integration-platform deliveries must carry Sentry-Hook-Signature")
        return
    secrets = [s for s in (settings.sentry_client_secret, settings.sentry_client_secret_old) if s]
    if not secrets:
        raise BadCredentials(
            "SENTRY_CLIENT_SECRET is not set: Sentry's signature cannot be checked"
        )
    if not signed_by_any(delivery.body, signature, secrets):
        raise BadCredentials("Sentry-Hook-Signature does not match the body")
    fresh(single(delivery.headers, TIMESTAMP), MAX_SKEW_S)


def parse(body: bytes) -> list[Alert]:
    payload = parse_as(w.PAYLOAD, body)
    if isinstance(payload, w.Legacy):
        return [_legacy(payload)]
    action, data = payload.action, payload.data
    match data:
        case w.IssueData():
            resource, alerts = "issue", _issue(action, data.issue)
        case w.EventAlertData():
            alert = _event(data.event, "event_alert", action, data.triggered_rule)
            resource, alerts = "event_alert", [alert] if action == "triggered" else []
        case w.ErrorData():
            alert = _event(data.error, "error", action, "")
            resource, alerts = "error", [alert] if action == "created" else []
        case w.MetricAlertData():
            resource, alerts = "metric_alert", _metric(action, data)
        case _:
            resource, alerts = "other", []
    if not alerts:
        log.info("delivery.ignored", source="sentry", resource=resource, action=clip(action, 40))
    return alerts


def _issue(action: str, issue: w.Issue) -> list[Alert]:
    firing = ISSUE_FIRING.get(action)
    if firing is None:
        return []
    project = issue.project.slug or issue.project.name
    meta = issue.metadata
    return [
        Alert(
            source=Source.SENTRY,
            fingerprint=f"sentry:issue:{issue.id}",  # created, resolved and event alerts share it
            name="SentryIssue",
            service=clip(project, 100) or "unknown",
            firing=firing,
            starts_at=clip(issue.firstSeen, 64),
            summary=clip(issue.title or meta.value or f"Sentry issue {issue.id}", SUMMARY_MAX),
            description=_text(issue.culprit, f"{meta.type or ''}: {meta.value or ''}"),
            labels=_labels(
                sentry_resource="issue",
                action=action,
                project=project,
                level=issue.level,
                issue=issue.shortId,
            ),
            link=clip(issue.permalink, 500),
        )
    ]


def _event(event: w.Event, resource: str, action: str, rule: str) -> Alert:
    found = _PROJECT_IN_URL.search(event.url or "")
    project = found.group(1) if found else ""
    logged = event.logentry.formatted if event.logentry else None
    summary = event.title or event.message or logged
    fingerprint = (
        f"sentry:issue:{event.issue_id}"
        if event.issue_id
        else f"sentry:event:{event.event_id}"
        if event.event_id
        else stable_fingerprint(Source.SENTRY, {"project": project, "title": event.title})
    )
    return Alert(
        source=Source.SENTRY,
        fingerprint=fingerprint,
        name="SentryEventAlert" if resource == "event_alert" else "SentryError",
        service=clip(project, 100) or "unknown",
        firing=True,
        starts_at=clip(event.datetime or str(event.timestamp or "") or event.event_id, 64),
        summary=clip(summary or f"Sentry event {event.event_id}", SUMMARY_MAX),
        description=_event_text(event),
        labels=_labels(
            sentry_resource=resource,
            action=action,
            project=project,
            level=event.level,
            environment=event.environment,
            sentry_rule=rule,
        ),
        link=clip(event.web_url, 500),
    )


def _event_text(event: w.Event, culprit: str | None = None) -> str:
    values = (event.exception.values or []) if event.exception else []
    lines = [
        f"{v.module + '.' if v.module else ''}{v.type or ''}: {clip(v.value, 300)}"
        for v in values[-3:]  # Sentry lists the exception chain oldest first
    ]
    return _text(culprit or event.culprit, *lines, event.message)


def _metric(action: str, data: w.MetricAlertData) -> list[Alert]:
    firing = METRIC_FIRING.get(action)
    if firing is None:
        return []
    incident, rule = data.metric_alert, data.metric_alert.alert_rule
    project = next(iter(rule.projects or incident.projects), "")
    return [
        Alert(
            source=Source.SENTRY,
            fingerprint=f"sentry:metric_alert:{incident.id}",
            name=clip(rule.name or incident.title, 100) or "SentryMetricAlert",
            service=clip(project, 100) or "unknown",
            firing=firing,
            starts_at=clip(incident.date_started or incident.date_detected, 64),
            summary=clip(data.description_title or incident.title or rule.name, SUMMARY_MAX),
            description=_text(data.description_text),
            labels=_labels(
                sentry_resource="metric_alert",
                action=action,
                project=project,
                aggregate=rule.aggregate,
                dataset=rule.dataset,
                query=rule.query,
                environment=rule.environment,
            ),
            link=clip(data.web_url, 500),
        )
    ]


def _legacy(payload: w.Legacy) -> Alert:
    event, project = payload.event, payload.project_slug or payload.project
    return Alert(
        source=Source.SENTRY,
        fingerprint=f"sentry:issue:{payload.id}",
        name="SentryLegacyAlert",
        service=clip(project, 100) or "unknown",
        firing=True,
        starts_at=clip(event.datetime or str(event.timestamp or "") or event.event_id, 64),
        summary=clip(payload.message or event.title or f"Sentry issue {payload.id}", SUMMARY_MAX),
        description=_event_text(event, payload.culprit),
        labels=_labels(
            sentry_resource="legacy_webhook",
            project=project,
            level=payload.level,
            sentry_rule=", ".join(payload.triggering_rules),
        ),
        link=clip(payload.url, 500),
        signed=False,
    )


def _text(*parts: str | None) -> str:
    return clip("\n".join(p for p in parts if p and p.strip(": ")), TEXT_MAX)


def _labels(**values: str | None) -> dict[str, str]:
    """Labels from fields Sentry itself sets; never the event's tags, which any client sends."""
    return {k: clip(v, LABEL_MAX) for k, v in values.items() if v}


PARSER = SourceParser(Source.SENTRY, parse, verify=verify, payload=w.PAYLOAD)
