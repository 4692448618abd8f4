"""structlog set-up: JSON in production, readable console lines locally; one function."""

from __future__ import annotations

import functools
import logging
import sys

import structlog
from structlog.types import EventDict, WrappedLogger

from core.settings import Settings

SECRET_KEYS = frozenset({"authorization", "token", "secret", "signature", "password", "dsn"})


@functools.lru_cache(maxsize=4096)  # log keys are few and fixed: decide each once
def _names_a_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_KEYS)


def _drop_secrets(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """Never log a value under a key that names a secret, whoever passed it."""
    for key in list(event):
        if _names_a_secret(key):
            event[key] = "[redacted]"
    return event


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr)


def init_error_reporting(settings: Settings) -> None:
    """plantão's own errors go to Sentry when SENTRY_DSN is set (never the alerts it receives)."""
    if settings.sentry_dsn is None:
        return
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.app_env,
        send_default_pii=False,
        traces_sample_rate=0.0,
    )
