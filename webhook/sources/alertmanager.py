"""Prometheus Alertmanager webhook, payload version 4. It signs nothing: we check its credentials
(`http_config.authorization` Bearer, or `basic_auth` whose password is ALERTMANAGER_TOKEN)."""

from __future__ import annotations

import functools
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, Field, TypeAdapter

from core.errors import UnparseablePayload
from core.models import Alert, Source
from webhook.sources.base import SourceParser, bearer_or_basic, parse_json, stable_fingerprint

SERVICE_LABELS = ("service", "app", "job")  # the first present names the service


class _Alert(BaseModel):  # the vendor's field names, verbatim
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""  # noqa: N815
    endsAt: str = ""  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""  # absent before Alertmanager 0.19


class _Payload(BaseModel):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: list[_Alert] = Field(min_length=1)


@functools.lru_cache(maxsize=1024)  # one rule's alerts share a URL: parse it once
def _expr(generator_url: str) -> str:
    """Prometheus puts the rule's expression in the generator URL as `g0.expr`."""
    if "g0.expr=" not in generator_url:
        return ""
    return parse_qs(urlsplit(generator_url).query).get("g0.expr", [""])[0]


def _alert(index: int, a: _Alert) -> Alert:
    name = a.labels.get("alertname")
    if not name:
        raise UnparseablePayload(f"alerts.{index}.labels.alertname: Field required")
    service = "unknown"
    for label in SERVICE_LABELS:  # a loop, not next(generator): this runs per alert
        if value := a.labels.get(label):
            service = value
            break
    fingerprint = (
        f"{Source.ALERTMANAGER}:{a.fingerprint}"
        if a.fingerprint
        else stable_fingerprint(Source.ALERTMANAGER, a.labels)
    )
    return Alert(
        source=Source.ALERTMANAGER,
        fingerprint=fingerprint,
        name=name,
        service=service,
        firing=a.status == "firing",  # a firing group can carry resolved alerts
        starts_at=a.startsAt,
        summary=a.annotations.get("summary") or name,
        description=a.annotations.get("description", ""),
        labels=a.labels,
        link=a.generatorURL,
        expr=_expr(a.generatorURL),
    )


def parse(body: bytes) -> list[Alert]:
    payload = parse_json(_Payload, body)
    return [_alert(i, a) for i, a in enumerate(payload.alerts)]


PARSER = SourceParser(
    Source.ALERTMANAGER,
    parse,
    verify=bearer_or_basic(lambda s: s.alertmanager_token),
    payload=TypeAdapter(_Payload),
)
