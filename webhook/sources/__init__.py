"""The literal registry of alert sources: one module per Source, served at /webhooks/{source}."""

from core.models import Source
from webhook.sources import alertmanager, railway, sentry
from webhook.sources.base import SourceParser

SOURCES: dict[Source, SourceParser] = {
    p.source: p
    for p in (
        alertmanager.PARSER,
        sentry.PARSER,
        railway.PARSER,
    )
}
