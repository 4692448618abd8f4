"""Sentry's webhook bodies, field names verbatim: the integration platform's envelope (issue,
event_alert, metric_alert, error; anything else is acknowledged and ignored) and the legacy
per-project WebHooks plugin (sentry/plugins/sentry_webhooks/plugin.py, get_group_data()).

The resource is read from the body, never from the unsigned `Sentry-Hook-Resource` header.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError

OBJECT = "Input should be a JSON object"  # union tags are written <tag>: describe() drops them


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)  # ids come as "1" or 1


Id = Annotated[str, Field(min_length=1, max_length=64)]  # part of Redis keys: bounded


class Project(_Wire):
    id: str = ""
    slug: str = ""
    name: str = ""


class Metadata(_Wire):
    type: str | None = None
    value: str | None = None
    filename: str | None = None


class Issue(_Wire):
    id: Id
    title: str = ""
    culprit: str | None = None
    shortId: str | None = None  # noqa: N815
    level: str | None = None
    firstSeen: str | None = None  # noqa: N815
    permalink: str | None = None
    metadata: Metadata = Field(default_factory=Metadata)
    project: Project = Field(default_factory=Project)


class ExceptionValue(_Wire):
    type: str | None = None
    value: str | None = None
    module: str | None = None


class Exceptions(_Wire):
    values: list[ExceptionValue] | None = None


class LogEntry(_Wire):
    formatted: str | None = None


class Event(_Wire):
    event_id: Annotated[str, Field(max_length=64)] = ""
    issue_id: Annotated[str, Field(max_length=64)] | None = None
    title: str = ""
    message: str | None = None
    culprit: str | None = None
    level: str | None = None
    environment: str | None = None
    datetime: str | None = None
    timestamp: float | str | None = None
    url: str | None = None  # .../api/0/projects/<org>/<project slug>/events/<id>/
    web_url: str | None = None
    exception: Exceptions | None = None
    logentry: LogEntry | None = None


class AlertRule(_Wire):
    name: str = ""
    aggregate: str | None = None
    dataset: str | None = None
    query: str | None = None
    environment: str | None = None
    projects: list[str] = Field(default_factory=list)


class MetricAlert(_Wire):
    id: Id  # Sentry's incident: critical, warning and resolved share it
    title: str = ""
    date_started: str | None = None
    date_detected: str | None = None
    projects: list[str] = Field(default_factory=list)
    alert_rule: AlertRule = Field(default_factory=AlertRule)


class IssueData(_Wire):
    issue: Issue


class EventAlertData(_Wire):
    event: Event
    triggered_rule: str = ""


class ErrorData(_Wire):
    error: Event


class MetricAlertData(_Wire):
    metric_alert: MetricAlert
    description_title: str = ""
    description_text: str = ""
    web_url: str | None = None


class OtherData(_Wire):
    """installation, comment, seer, ... and resources newer than this module."""


def _resource(data: Any) -> str | None:
    keys = vars(data) if isinstance(data, BaseModel) else data
    if not isinstance(keys, dict):
        return None  # pydantic then reports `data` as the wrong type
    found = next((k for k in ("issue", "metric_alert", "error", "event") if k in keys), "other")
    return f"<{found}>"


class Envelope(_Wire):
    action: str
    data: Annotated[
        Annotated[IssueData, Tag("<issue>")]
        | Annotated[MetricAlertData, Tag("<metric_alert>")]
        | Annotated[ErrorData, Tag("<error>")]
        | Annotated[EventAlertData, Tag("<event>")]
        | Annotated[OtherData, Tag("<other>")],
        Discriminator(_resource, custom_error_type="object", custom_error_message=OBJECT),
    ]
    installation: dict[str, Any] | None = None


class Legacy(_Wire):
    """The WebHooks plugin's body: unsigned, so it is accepted only with SENTRY_LEGACY_TOKEN."""

    id: Id  # the issue (group) id
    project: str
    project_slug: str = ""
    level: str | None = None
    culprit: str | None = None
    message: str | None = None
    url: str
    triggering_rules: list[str] = Field(default_factory=list)
    event: Event


ENVELOPE_KEYS = frozenset({"action", "data", "installation"})


def shape(body: Any) -> str | None:
    """ "envelope" for the integration platform, "legacy" for the plugin, None for neither."""
    if isinstance(body, dict):
        return "envelope" if ENVELOPE_KEYS & body.keys() else "legacy"
    if isinstance(body, BaseModel):
        return "envelope" if isinstance(body, Envelope) else "legacy"
    return None


def _tag(body: Any) -> str | None:
    kind = shape(body)
    return None if kind is None else f"<{kind}>"


def looks_like_envelope(body: bytes) -> bool:
    """Whether a body is, or claims to be, an integration-platform delivery."""
    try:
        return shape(_KEYS.validate_json(body)) == "envelope"
    except ValidationError:
        return False  # not a JSON object: parse() refuses it with a 422


_KEYS: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
PAYLOAD: TypeAdapter[Envelope | Legacy] = TypeAdapter(
    Annotated[
        Annotated[Envelope, Tag("<envelope>")] | Annotated[Legacy, Tag("<legacy>")],
        Discriminator(_tag, custom_error_type="object", custom_error_message=OBJECT),
    ]
)
