"""Railway project webhooks: deployment status changes in both shapes, and alert events
(`<Kind>.triggered` / `.resolved`) read from their documented envelope. Railway signs nothing:
the URL must carry `?token=RAILWAY_WEBHOOK_TOKEN`, and every alert is marked unsigned so the
remediation layer confirms the deployment through Railway's API before acting on it.

Fingerprints are per environment and service, not per deployment: a later successful deployment
of the same service resolves the failure, and a new failure after it opens a new incident.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from core.models import Alert, Source
from webhook.sources import railway_wire as w
from webhook.sources.base import SourceParser, clip, parse_as, url_token

log = structlog.get_logger()

# A deployment event -> the alert it fires: (name the rules match, fingerprint kind).
FIRING = {
    "failed": ("DeploymentFailed", "failed"),  # deploy_failed (004 S9)
    "crashed": ("DeploymentCrashed", "crashed"),  # api_down (003 PROC-001)
    "oomkilled": ("DeploymentOOMKilled", "oom"),  # memory_leak_oom (004 S4)
}
SUCCEEDED = frozenset({"deployed", "redeployed", "success", "succeeded"})
LEGACY_EVENTS = {"FAILED": "failed", "CRASHED": "crashed", "SUCCESS": "deployed"}  # else progress
ALERT_FIRING = {"triggered": True, "resolved": False}
TEXT_MAX = 2000


@dataclass(frozen=True)
class _Subject:
    """What a delivery is about, whichever shape it came in."""

    type: str
    environment: w.Ref
    service: w.Ref | None
    deployment: str
    timestamp: str
    labels: dict[str, str]
    text: str

    @property
    def key(self) -> str:
        service = self.service.id or self.service.name if self.service else ""
        return f"{self.environment.id or self.environment.name or '-'}:{service or '-'}"

    def alert(
        self, name: str, kind: str, firing: bool, summary: str, deployment: str = ""
    ) -> Alert:
        service = (self.service.name or self.service.id) if self.service else ""
        return Alert(
            source=Source.RAILWAY,
            fingerprint=f"railway:{kind}:{self.key}",
            name=name,
            service=service or "unknown",
            firing=firing,
            starts_at=self.timestamp or self.deployment,
            summary=summary,
            description=self.text,
            labels=self.labels,
            signed=False,
            deployment=deployment,
        )


def parse(body: bytes) -> list[Alert]:
    payload = parse_as(w.PAYLOAD, body)
    match payload:
        case w.LegacyDeploy():
            alerts = _deployment(LEGACY_EVENTS.get(payload.status.upper(), ""), _legacy(payload))
        case w.Event():
            kind, _, event = payload.type.partition(".")
            subject = _event(payload)
            if kind.lower() == "deployment":
                alerts = _deployment(event.lower().replace("_", ""), subject)
            else:
                alerts = _alert_event(clip(kind, 40), event.lower(), subject)
        case _:
            alerts = []
    if not alerts:
        log.info("delivery.ignored", source="railway", type=clip(payload.type, 60))
    return alerts


def _deployment(event: str, s: _Subject) -> list[Alert]:
    if s.service is None:  # Railway's Test Webhook names no service: nothing to act on
        return []
    where = f"{s.labels.get('service', 'unknown')} in {s.labels.get('environment', '?')}"
    if event in FIRING:
        name, kind = FIRING[event]
        return [s.alert(name, kind, True, f"Railway deployment {event} for {where}")]
    if event in SUCCEEDED:  # a good deployment ends whichever kind of failure was open
        summary = f"Railway deployment succeeded for {where}"
        return [
            s.alert(name, kind, False, summary, s.deployment if i == 0 else "")
            for i, (name, kind) in enumerate(FIRING.values())
        ]
    return []


def _alert_event(kind: str, event: str, s: _Subject) -> list[Alert]:
    firing = ALERT_FIRING.get(event)
    if firing is None:
        return []
    where = f"{s.labels.get('service', 'unknown')} in {s.labels.get('environment', '?')}"
    return [s.alert(f"Railway{kind}", kind.lower(), firing, f"Railway {kind} {event} on {where}")]


def _legacy(p: w.LegacyDeploy) -> _Subject:
    meta = p.deployment.meta or w.Meta()
    service = p.service if p.service.id or p.service.name else None
    return _Subject(
        type=p.type,
        environment=p.environment,
        service=service,
        deployment=p.deployment.id,
        timestamp=p.timestamp,
        labels=_labels(p.type, p.project, p.environment, service, p.deployment.id)
        | _some(railway_status=p.status, branch=meta.branch, commit=meta.commitHash),
        text=clip(meta.commitMessage, TEXT_MAX),
    )


def _event(e: w.Event) -> _Subject:
    r, details = e.resource, e.details or w.Details()
    deployment = (r.deployment.id if r.deployment else "") or details.id
    extra = [f"{k}: {v}" for k, v in (details.model_extra or {}).items() if _scalar(v)]
    return _Subject(
        type=e.type,
        environment=r.environment,
        service=r.service,
        deployment=deployment,
        timestamp=e.timestamp,
        labels=_labels(e.type, r.project, r.environment, r.service, deployment)
        | _some(railway_severity=e.severity, branch=details.branch, commit=details.commitHash),
        text=clip("\n".join([details.commitMessage or "", *extra]).strip(), TEXT_MAX),
    )


def _labels(
    event: str, project: w.Ref, environment: w.Ref, service: w.Ref | None, deployment: str
) -> dict[str, str]:
    return _some(
        railway_event=event,
        project=project.name or project.id,
        environment=environment.name or environment.id,
        service=(service.name or service.id) if service else "",
        deployment=deployment,
    )


def _some(**values: str | None) -> dict[str, str]:
    """The non-empty values, clipped. Railway's severity is `railway_severity`, never `severity`:
    that label sets P-levels."""
    return {k: clip(v, 200) for k, v in values.items() if v}


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


PARSER = SourceParser(
    Source.RAILWAY,
    parse,
    verify=url_token(lambda s: s.railway_webhook_token, "RAILWAY_WEBHOOK_TOKEN"),
    payload=w.PAYLOAD,
)
