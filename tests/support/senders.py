"""Requests as each real sender makes them: Sentry signs the raw body, Railway and the legacy
Sentry plugin put a token in the URL, Alertmanager sends a bearer token. One valid request per
source, and the settings that accept them."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from core.settings import Settings

AM_TOKEN = "am-token-for-tests"
SENTRY_SECRET = "sentry-client-secret-for-tests"
SENTRY_OLD_SECRET = "sentry-old-client-secret-for-tests"
SENTRY_LEGACY_TOKEN = "sentry-legacy-token-for-tests"
RAILWAY_TOKEN = "railway-token-for-tests"

SECRETS = {
    "alertmanager_token": AM_TOKEN,
    "sentry_client_secret": SENTRY_SECRET,
    "sentry_legacy_token": SENTRY_LEGACY_TOKEN,
    "railway_webhook_token": RAILWAY_TOKEN,
}


def intake_settings(make_settings: Callable[..., Settings], **values: Any) -> Settings:
    """Settings with every source's credentials set (tests override some with `values`)."""
    return make_settings(**{**SECRETS, **values})


@dataclass(frozen=True)
class Request:
    """One POST: a path with its query, the raw body, and headers (a list: names may repeat)."""

    path: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)

    def with_headers(self, *pairs: tuple[str, str], drop: str = "") -> Request:
        kept = [h for h in self.headers if h[0].lower() != drop.lower()]
        return replace(self, headers=[*kept, *pairs])

    def without(self, name: str) -> Request:
        return self.with_headers(drop=name)

    def kwargs(self) -> dict[str, Any]:
        """httpx.AsyncClient.post(**request.kwargs())."""
        return {
            "url": self.path,
            "content": self.body,
            "headers": [(k, v.encode("latin-1")) for k, v in self.headers],  # as on the wire
            "params": self.query,
        }


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sentry(
    body: bytes,
    *,
    secret: str = SENTRY_SECRET,
    at: float | None = None,
    resource: str = "issue",
    signed_body: bytes | None = None,
) -> Request:
    """A delivery as Sentry's integration platform sends it: hex HMAC-SHA256 of the raw body."""
    stamp = str(int(time.time() if at is None else at))
    signature = hmac_hex(secret, body if signed_body is None else signed_body)
    return Request(
        "/webhooks/sentry",
        body,
        [
            ("Content-Type", "application/json"),
            ("Request-ID", "8f6a3bd7-0b29-4e0e-9c1b-6d1f7e0a5c44"),
            ("Sentry-Hook-Resource", resource),
            ("Sentry-Hook-Timestamp", stamp),
            ("Sentry-Hook-Signature", signature),
        ],
    )


def sentry_legacy(body: bytes, token: str = SENTRY_LEGACY_TOKEN) -> Request:
    """The legacy WebHooks plugin: unsigned, user agent sentry-webhooks, token in the URL."""
    return Request(
        "/webhooks/sentry",
        body,
        [("Content-Type", "application/json"), ("User-Agent", "sentry-webhooks/23.6.2")],
        [("token", token)],
    )


def railway(body: bytes, token: str = RAILWAY_TOKEN) -> Request:
    """Railway signs nothing: the project webhook's URL carries the token."""
    return Request(
        "/webhooks/railway",
        body,
        [("Content-Type", "application/json"), ("User-Agent", "Railway-Webhook")],
        [("token", token)],
    )


def alertmanager(body: bytes, token: str = AM_TOKEN) -> Request:
    return Request(
        "/webhooks/alertmanager",
        body,
        [("Content-Type", "application/json"), ("Authorization", f"Bearer {token}")],
    )
