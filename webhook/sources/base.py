"""What a source parser is, and the verifiers and parsing helpers the sources share."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from core.errors import BadCredentials, UnparseablePayload
from core.models import Alert, Source
from core.settings import Settings


@dataclass(frozen=True)
class Delivery:
    """One HTTP delivery as received: the raw body (signatures cover bytes) and its metadata."""

    headers: Mapping[str, str]  # case-insensitive in practice (Starlette's Headers)
    query: Mapping[str, str]
    body: bytes


Verify = Callable[[Delivery, Settings], None]


@dataclass(frozen=True)
class SourceParser:
    source: Source
    parse: Callable[[bytes], list[Alert]]
    verify: Verify


def same_secret(given: str, expected: SecretStr) -> bool:
    """Constant-time comparison, so response timing tells nothing about the secret."""
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def bearer_or_basic(secret: Callable[[Settings], SecretStr | None]) -> Verify:
    """Accept `Authorization: Bearer <secret>` or Basic auth whose password is the secret.

    When no secret is configured the source is open (development); `plantao` warns at start.
    """

    def verify(delivery: Delivery, settings: Settings) -> None:
        expected = secret(settings)
        if expected is None:
            return
        header = delivery.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and same_secret(value, expected):
            return
        if scheme.lower() == "basic" and same_secret(_basic_password(value), expected):
            return
        raise BadCredentials("missing or wrong credentials: send the configured token")

    return verify


def _basic_password(value: str) -> str:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


M = TypeVar("M", bound=BaseModel)


def parse_json(model: type[M], body: bytes) -> M:
    """Validate a vendor body against its wire model; errors name the first bad field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise UnparseablePayload(describe(exc)) from exc


def describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


def stable_fingerprint(source: Source, labels: Mapping[str, str]) -> str:
    """A dedup key from a label set, independent of key order."""
    canonical = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return f"{source}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"
