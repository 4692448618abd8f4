"""What a source parser is, and the verifiers and parsing helpers the sources share."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from starlette.datastructures import Headers, QueryParams

from core.errors import BadCredentials, StaleRequest, UnparseablePayload
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
    payload: TypeAdapter[Any] | None = None  # the vendor's body, shown in the OpenAPI schema


def single(fields: Mapping[str, str], name: str) -> str | None:
    """The one value of a header or query parameter, None when absent.

    A credential sent twice is refused: which copy counts differs between proxies and frameworks,
    so a second copy is a way to smuggle one past a check that read the other.
    """
    if isinstance(fields, Headers | QueryParams):
        values = fields.getlist(name)
    else:
        value = fields.get(name)
        values = [] if value is None else [value]
    if len(values) > 1:
        raise BadCredentials(f"{name} was sent {len(values)} times: send it once")
    return values[0] if values else None


def same_secret(given: str, expected: SecretStr) -> bool:
    """Constant-time comparison, so response timing tells nothing about the secret."""
    secret = expected.get_secret_value().encode()
    return bool(secret) and hmac.compare_digest(given.encode(), secret)


def bearer_or_basic(secret: Callable[[Settings], SecretStr | None]) -> Verify:
    """Accept `Authorization: Bearer <secret>` or Basic auth whose password is the secret.

    When no secret is configured the source is open (development); `plantao` warns at start.
    """

    def verify(delivery: Delivery, settings: Settings) -> None:
        expected = secret(settings)
        if expected is None:
            return
        header = single(delivery.headers, "authorization") or ""
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


TOKEN_PARAM = "token"  # the query parameter carrying an unsigned sender's secret


def url_token(secret: Callable[[Settings], SecretStr | None], variable: str) -> Verify:
    """Accept a delivery whose URL carries the secret as `?token=` (senders that cannot sign).

    Unlike a signature this proves nothing about the body, so such sources mark their alerts
    unsigned. When `variable` is unset the source is closed: nothing would stand in for a
    signature.
    """

    def verify(delivery: Delivery, settings: Settings) -> None:
        expected = secret(settings)
        if expected is None or not expected.get_secret_value():
            raise BadCredentials(f"{variable} is not set: this webhook is closed until it is")
        given = single(delivery.query, TOKEN_PARAM)
        if given is None or not same_secret(given, expected):
            raise BadCredentials(f"missing or wrong ?{TOKEN_PARAM}= in the webhook URL")

    return verify


def hmac_sha256(secret: SecretStr, body: bytes) -> str:
    """Hex HMAC-SHA256 of the exact bytes received (never of re-serialised JSON)."""
    return hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()


def signed_by_any(body: bytes, signature: str, secrets: Sequence[SecretStr]) -> bool:
    """Whether `signature` is the body's HMAC under one of `secrets` (two while one is rotated,
    runbook 000 §1.2). Every secret is compared, each in constant time."""
    given = signature.encode()
    matches = [hmac.compare_digest(hmac_sha256(s, body).encode(), given) for s in secrets]
    return any(matches)


_UNIX_SECONDS = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")  # not float(): it accepts "nan", "1e9"


def fresh(stamp: str | None, max_skew_s: float, now: float | None = None) -> None:
    """Refuse a delivery whose unix-seconds timestamp is absent, malformed or too far from now."""
    if stamp is None:
        raise StaleRequest("the delivery has no timestamp header")
    if not _UNIX_SECONDS.fullmatch(stamp):
        raise StaleRequest("the timestamp header is not unix seconds")
    skew = float(stamp) - (time.time() if now is None else now)
    if abs(skew) > max_skew_s:
        when = "in the future" if skew > 0 else "old"
        raise StaleRequest(f"the timestamp is {abs(skew):.0f} s {when}; {max_skew_s:.0f} s allowed")


M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def parse_json(model: type[M], body: bytes) -> M:
    """Validate a vendor body against its wire model; errors name the first bad field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise UnparseablePayload(describe(exc)) from exc


def parse_as(adapter: TypeAdapter[T], body: bytes) -> T:
    """parse_json for a wire type that is not one model (a union of a vendor's shapes)."""
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise UnparseablePayload(describe(exc)) from exc


def describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    # a discriminated union's tags (written "<tag>" in the wire modules) are not fields
    where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("<")) or "body"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


def stable_fingerprint(source: Source, labels: Mapping[str, str]) -> str:
    """A dedup key from a label set, independent of key order."""
    canonical = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return f"{source}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def clip(text: str | None, limit: int) -> str:
    """Vendor text cut to `limit` characters: it goes to Redis, Slack and the classifier."""
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def openapi(parsers: Iterable[SourceParser]) -> dict[str, Any]:
    """The webhook route's OpenAPI: the vendors' bodies, their credentials, the error answers."""
    bodies = [_inline(p.payload.json_schema()) for p in parsers if p.payload is not None]
    error = {"application/json": {"schema": {"type": "object", "properties": {"error": {}}}}}
    headers = ("Authorization", "Sentry-Hook-Signature", "Sentry-Hook-Timestamp")
    return {
        "parameters": [
            {"name": TOKEN_PARAM, "in": "query", "required": False, "schema": {"type": "string"}},
            *(
                {"name": h, "in": "header", "required": False, "schema": {"type": "string"}}
                for h in headers
            ),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"anyOf": [*bodies, {"type": "object"}]}}},
        },
        "responses": {
            str(code): {"description": what, "content": error}
            for code, what in (
                (400, "stale or malformed timestamp"),
                (401, "missing or wrong credentials"),
                (404, "source not enabled"),
                (413, "body over MAX_BODY_BYTES"),
                (503, "Redis unavailable: retry"),
            )
        },
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve pydantic's `#/$defs/...` references: OpenAPI resolves them from its own root."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            rest = {k: resolve(v) for k, v in node.items() if k != "$ref"}
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return {**resolve(defs[ref.removeprefix("#/$defs/")]), **rest}
            return rest
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
