"""Nobody can fool the intake: a corpus of forged, damaged and replayed requests, generated from
one valid request per source. Each is refused (401, or 400 for a bad timestamp), queues nothing
and leaves every Redis key and value as it was; a byte-identical re-delivery is a 2xx no-op."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis

from core.settings import Settings
from tests.conftest import MakeClient, fixture_bytes
from tests.support import senders
from tests.support.redis_state import queued, redis_state
from webhook.sources.sentry import MAX_SKEW_S

SENTRY_BODY = fixture_bytes("sentry", "docs-issue-created.json")
LEGACY_BODY = fixture_bytes("sentry", "zulip-legacy-webhooks-plugin-python-exception.json")
RAILWAY_BODY = fixture_bytes("railway", "docs-new-format-example-deployment-failed.json")
AM_BODY = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
SIG, STAMP, TOKEN = "Sentry-Hook-Signature", "Sentry-Hook-Timestamp", "token"

Case = Callable[[], senders.Request]


def flip(body: bytes, at: int) -> bytes:
    """The body with one bit of one byte flipped."""
    return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]


def sig_of(request: senders.Request) -> str:
    return dict(request.headers)[SIG]


def _signed(**kwargs: Any) -> senders.Request:
    return senders.sentry(SENTRY_BODY, **kwargs)


def _header(name: str, value: str) -> Case:
    return lambda: _signed().with_headers((name, value), drop=name)


def _twice(name: str, second: Callable[[str], str]) -> Case:
    def make() -> senders.Request:
        good = _signed()
        return good.with_headers((name, second(dict(good.headers)[name])))

    return make


def _twisted(edit: Callable[[str], str]) -> Case:
    """The valid signature, edited."""
    return lambda: _header(SIG, edit(sig_of(_signed())))()


def _body(edit: Callable[[bytes], bytes]) -> Case:
    """Sentry's valid signature over the original body, sent with another body."""
    return lambda: senders.sentry(edit(SENTRY_BODY), signed_body=SENTRY_BODY)


SENTRY_NEGATIVES: dict[str, tuple[Case, int]] = {
    "no signature header": (lambda: _signed().without(SIG), 401),
    "empty signature": (_header(SIG, ""), 401),
    "signature sent twice (both right)": (_twice(SIG, lambda s: s), 401),
    "signature sent twice (one wrong)": (_twice(SIG, lambda s: "0" * 64), 401),
    "signed with a wrong secret": (lambda: _signed(secret="not-the-client-secret"), 401),
    "signed with another source's secret": (lambda: _signed(secret=senders.RAILWAY_TOKEN), 401),
    "signature over re-serialised JSON": (
        lambda: _signed(signed_body=json.dumps(json.loads(SENTRY_BODY)).encode()),
        401,
    ),
    "signature over compact JSON": (
        lambda: _signed(
            signed_body=json.dumps(json.loads(SENTRY_BODY), separators=(",", ":")).encode()
        ),
        401,
    ),
    "signature in upper case": (_twisted(str.upper), 401),
    "signature with a sha256= prefix": (_twisted(lambda s: "sha256=" + s), 401),
    "signature with one hex digit changed": (
        _twisted(lambda s: ("e" if s[0] == "f" else "f") + s[1:]),
        401,
    ),
    "signature truncated": (_twisted(lambda s: s[:-2]), 401),
    "non-ascii signature": (_header(SIG, "é" * 64), 401),
    "first byte flipped": (_body(lambda b: flip(b, 0)), 401),
    "middle byte flipped": (_body(lambda b: flip(b, len(b) // 2)), 401),
    "last byte flipped": (_body(lambda b: flip(b, len(b) - 1)), 401),
    "body truncated by one byte": (_body(lambda b: b[:-1]), 401),
    "body truncated to half": (_body(lambda b: b[: len(b) // 2]), 401),
    "body extended by a space": (_body(lambda b: b + b" "), 401),
    "body extended by a second object": (_body(lambda b: b + b'{"action":"resolved"}'), 401),
    "empty body": (_body(lambda b: b""), 401),
    "stale timestamp": (lambda: _signed(at=time.time() - MAX_SKEW_S - 60), 400),
    "future timestamp": (lambda: _signed(at=time.time() + MAX_SKEW_S + 60), 400),
    "timestamp zero": (lambda: _signed(at=0), 400),
    "no timestamp": (lambda: _signed().without(STAMP), 400),
    "empty timestamp": (_header(STAMP, ""), 400),
    "timestamp in ISO format": (_header(STAMP, "2026-01-01T00:00:00Z"), 400),
    "timestamp NaN": (_header(STAMP, "NaN"), 400),
    "timestamp in exponent form": (_header(STAMP, "1.7e9"), 400),
    "negative timestamp": (_header(STAMP, "-1"), 400),
    "timestamp in milliseconds": (_header(STAMP, str(int(time.time() * 1000))), 400),
    "timestamp sent twice": (_twice(STAMP, lambda s: s), 401),
    "a bearer token instead of a signature": (
        lambda: (
            _signed()
            .without(SIG)
            .with_headers(("Authorization", f"Bearer {senders.SENTRY_SECRET}"))
        ),
        401,
    ),
    "the legacy token on a platform body": (
        lambda: senders.Request(
            "/webhooks/sentry", SENTRY_BODY, [], [(TOKEN, senders.SENTRY_LEGACY_TOKEN)]
        ),
        401,
    ),
}


def _legacy(*query: tuple[str, str], headers: list[tuple[str, str]] | None = None) -> Case:
    return lambda: senders.Request("/webhooks/sentry", LEGACY_BODY, headers or [], list(query))


LEGACY_NEGATIVES: dict[str, tuple[Case, int]] = {
    "no token": (_legacy(), 401),
    "empty token": (_legacy((TOKEN, "")), 401),
    "wrong token": (_legacy((TOKEN, "not-the-token")), 401),
    "token with a suffix": (_legacy((TOKEN, senders.SENTRY_LEGACY_TOKEN + "x")), 401),
    "token missing its last character": (_legacy((TOKEN, senders.SENTRY_LEGACY_TOKEN[:-1])), 401),
    "token in upper case": (_legacy((TOKEN, senders.SENTRY_LEGACY_TOKEN.upper())), 401),
    "token sent twice (both right)": (
        _legacy((TOKEN, senders.SENTRY_LEGACY_TOKEN), (TOKEN, senders.SENTRY_LEGACY_TOKEN)),
        401,
    ),
    "token sent twice (one wrong)": (
        _legacy((TOKEN, "wrong"), (TOKEN, senders.SENTRY_LEGACY_TOKEN)),
        401,
    ),
    "the client secret as token": (_legacy((TOKEN, senders.SENTRY_SECRET)), 401),
    "railway's token": (_legacy((TOKEN, senders.RAILWAY_TOKEN)), 401),
    "token in an Authorization header": (
        _legacy(headers=[("Authorization", f"Bearer {senders.SENTRY_LEGACY_TOKEN}")]),
        401,
    ),
    "token under another parameter name": (_legacy(("secret", senders.SENTRY_LEGACY_TOKEN)), 401),
}


def _railway(*query: tuple[str, str], headers: list[tuple[str, str]] | None = None) -> Case:
    return lambda: senders.Request("/webhooks/railway", RAILWAY_BODY, headers or [], list(query))


RAILWAY_NEGATIVES: dict[str, tuple[Case, int]] = {
    "no token": (_railway(), 401),
    "empty token": (_railway((TOKEN, "")), 401),
    "wrong token": (_railway((TOKEN, "not-the-token")), 401),
    "token with a suffix": (_railway((TOKEN, senders.RAILWAY_TOKEN + "x")), 401),
    "token missing its last character": (_railway((TOKEN, senders.RAILWAY_TOKEN[:-1])), 401),
    "token with a trailing space": (_railway((TOKEN, senders.RAILWAY_TOKEN + " ")), 401),
    "token in upper case": (_railway((TOKEN, senders.RAILWAY_TOKEN.upper())), 401),
    "token sent twice (both right)": (
        _railway((TOKEN, senders.RAILWAY_TOKEN), (TOKEN, senders.RAILWAY_TOKEN)),
        401,
    ),
    "token sent twice (one wrong)": (
        _railway((TOKEN, senders.RAILWAY_TOKEN), (TOKEN, "wrong")),
        401,
    ),
    "another source's token": (_railway((TOKEN, senders.SENTRY_LEGACY_TOKEN)), 401),
    "token in an Authorization header": (
        _railway(headers=[("Authorization", f"Bearer {senders.RAILWAY_TOKEN}")]),
        401,
    ),
    "token under another parameter name": (_railway(("Token", senders.RAILWAY_TOKEN)), 401),
    "a Sentry signature instead of the token": (
        _railway(headers=[(SIG, senders.hmac_hex(senders.RAILWAY_TOKEN, RAILWAY_BODY))]),
        401,
    ),
}


def _am(*headers: tuple[str, str]) -> Case:
    return lambda: senders.Request("/webhooks/alertmanager", AM_BODY, list(headers))


BEARER = ("Authorization", f"Bearer {senders.AM_TOKEN}")
AM_NEGATIVES: dict[str, tuple[Case, int]] = {
    "no Authorization": (_am(), 401),
    "empty Authorization": (_am(("Authorization", "")), 401),
    "Authorization sent twice (both right)": (_am(BEARER, BEARER), 401),
    "Authorization sent twice (one wrong)": (_am(("Authorization", "Bearer wrong"), BEARER), 401),
    "wrong token": (_am(("Authorization", "Bearer wrong")), 401),
    "another source's token": (_am(("Authorization", f"Bearer {senders.RAILWAY_TOKEN}")), 401),
    "token in the query": (
        lambda: senders.Request("/webhooks/alertmanager", AM_BODY, [], [(TOKEN, senders.AM_TOKEN)]),
        401,
    ),
}

# A valid delivery of each source made first, so that the corpus runs against a store with an
# open incident (a forged resolution or duplicate would show in its counters).
SEED = {
    "sentry": lambda: senders.sentry(
        SENTRY_BODY.replace(b'"1170820242"', b'"99"'), resource="issue"
    ),
    "legacy": lambda: senders.sentry(SENTRY_BODY.replace(b'"1170820242"', b'"99"')),
    "railway": lambda: senders.railway(
        fixture_bytes("railway", "derived-new-format-deployment-crashed.json")
    ),
    "alertmanager": lambda: senders.alertmanager(
        fixture_bytes("alertmanager", "captured-am025-firing-3-alerts-mixed-severity.json")
    ),
}

CORPUS = [
    (source, name, case, status)
    for source, negatives in (
        ("sentry", SENTRY_NEGATIVES),
        ("legacy", LEGACY_NEGATIVES),
        ("railway", RAILWAY_NEGATIVES),
        ("alertmanager", AM_NEGATIVES),
    )
    for name, (case, status) in negatives.items()
]


@pytest.fixture
async def client(
    make_client: MakeClient, make_settings: Callable[..., Settings], any_redis: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    yield await make_client(senders.intake_settings(make_settings), any_redis)


@pytest.mark.parametrize(
    ("source", "name", "case", "status"), CORPUS, ids=[f"{c[0]}: {c[1]}" for c in CORPUS]
)
async def test_every_forged_or_damaged_request_is_refused_and_writes_nothing(
    client: httpx.AsyncClient,
    any_redis: ArqRedis,
    source: str,
    name: str,
    case: Case,
    status: int,
) -> None:
    """The request is refused with its status, no job is queued, no key or value changes."""
    seeded = await client.post(**SEED[source]().kwargs())
    assert seeded.status_code == 202, seeded.text
    before, jobs = await redis_state(any_redis), await queued(any_redis)
    response = await client.post(**case().kwargs())
    assert response.status_code == status, (name, response.text)
    assert "error" in response.json()
    assert await queued(any_redis) == jobs
    assert await redis_state(any_redis) == before


VALID = {
    "sentry": lambda: senders.sentry(SENTRY_BODY),
    "legacy": lambda: senders.sentry_legacy(LEGACY_BODY),
    "railway": lambda: senders.railway(RAILWAY_BODY),
    "alertmanager": lambda: senders.alertmanager(AM_BODY),
}


@pytest.mark.parametrize("source", sorted(VALID))
async def test_a_byte_identical_redelivery_is_a_2xx_no_op(
    client: httpx.AsyncClient, any_redis: ArqRedis, source: str
) -> None:
    """The same valid request again answers 2xx, accepts nothing new and queues nothing."""
    request = VALID[source]()
    first = await client.post(**request.kwargs())
    assert first.status_code == 202 and first.json()["accepted"] >= 1
    jobs = await queued(any_redis)
    again = await client.post(**request.kwargs())
    assert again.status_code == 202
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == first.json()["accepted"]
    assert await queued(any_redis) == jobs


def test_the_corpus_covers_every_source_and_both_refusals() -> None:
    """Each source has negatives, and the corpus exercises both 401 and 400."""
    assert {c[0] for c in CORPUS} == {"sentry", "legacy", "railway", "alertmanager"}
    assert {c[3] for c in CORPUS} == {400, 401}
