"""Operator API access: every /api endpoint x {no token, wrong token, viewer, responder, admin}.

Unauthorised calls get 401/403 and change nothing (a 403 only adds its "forbidden" audit
record); authorised ones get past the door. Tokens are configured as SHA-256 hashes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from pydantic import SecretStr

from core.audit import AUDIT_KEY
from core.config import PlantaoConfig
from core.settings import Settings
from core.silences import Matcher, Silence, Silences
from core.store import Store
from core.tokens import Role, TokenConfig, Tokens, token_hash
from tests.conftest import MakeClient, fixture_bytes
from tests.support.redis_state import redis_state
from webhook.app import create_app

FIRING = fixture_bytes("alertmanager", "captured-am025-firing-2-alerts-servicedown.json")
TOKENS = {Role.VIEWER: "tok-viewer", Role.RESPONDER: "tok-responder", Role.ADMIN: "tok-admin"}
CONFIG = PlantaoConfig(
    tokens=[TokenConfig(name=f"{r}-bot", role=r, sha256=token_hash(t)) for r, t in TOKENS.items()]
)
SILENCE = "s-fixed"
DEAD = "incident:1:open"
V, R, A = Role.VIEWER, Role.RESPONDER, Role.ADMIN

# (method, path, json body, the role it needs)
ENDPOINTS: list[tuple[str, str, Any, Role]] = [
    ("GET", "/api/incidents", None, V),
    ("GET", "/api/incidents/1", None, V),
    ("GET", "/api/incidents/1/postmortem", None, V),
    ("GET", "/api/incidents/1/evidence", None, V),
    ("POST", "/api/incidents/1/ack", {"by": "ana"}, R),
    ("POST", "/api/incidents/1/resolve", {"by": "ana"}, R),
    ("POST", "/api/incidents/1/silence", {"comment": "quiet"}, R),
    ("GET", "/api/incidents/1/steps", None, V),
    ("POST", "/api/incidents/1/steps/restart/approve", None, R),
    ("POST", "/api/incidents/1/steps/restart/reject", None, R),
    ("GET", "/api/silences", None, V),
    ("POST", "/api/silences", {"matchers": ["service=api"], "comment": "x"}, R),
    ("DELETE", f"/api/silences/{SILENCE}", None, R),
    ("GET", f"/api/jobs/{DEAD}", None, V),
    ("POST", f"/api/jobs/{DEAD}/replay", {"plan": True, "wait_s": 0}, A),
    ("GET", "/api/deadletters", None, V),
    ("GET", f"/api/deadletters/{DEAD}", None, V),
    ("POST", "/api/deadletters/redrive", None, A),
    ("POST", f"/api/deadletters/{DEAD}/redrive", None, A),
    ("GET", "/api/switches", None, V),
    ("POST", "/api/switches/pause", {"reason": "drill"}, A),
    ("POST", "/api/switches/resume", {"reason": "drill over"}, A),
    ("POST", "/api/switches/freeze", {"reason": "release"}, A),
    ("POST", "/api/switches/unfreeze", None, A),
    ("GET", "/api/audit", None, V),
]
CALLERS = ["none", "wrong", "viewer", "responder", "admin"]


def _headers(caller: str) -> dict[str, str]:
    if caller == "none":
        return {}
    if caller == "wrong":
        return {"Authorization": "Bearer tok-nobody"}
    return {"Authorization": f"Bearer {TOKENS[Role(caller)]}"}


@pytest.fixture
async def client(
    make_client: MakeClient, make_settings: Callable[..., Settings], real_redis: ArqRedis
) -> AsyncIterator[httpx.AsyncClient]:
    """An api with three role tokens, an incident, a silence, a dead letter and evidence."""
    client = await make_client(make_settings(), real_redis, CONFIG)
    await client.post("/webhooks/alertmanager", content=FIRING)
    now = datetime.now(UTC)
    await Silences(real_redis).add(
        Silence(
            id=SILENCE,
            matchers=[Matcher(field="service", value="nothing")],
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            author="ana",
            comment="fixture",
        )
    )
    await Store(real_redis).dead_letter(DEAD, "handle_incident", ["1"], 3, "boom")
    await real_redis.set("plantao:evidence:1", b'{"incident_id": "1"}')
    yield client


def test_the_matrix_lists_every_operator_endpoint(make_settings: Callable[..., Settings]) -> None:
    """A new /api route must be added to the matrix (and so given a role) before it ships."""
    app = create_app(make_settings(), config=CONFIG)
    schema = app.openapi()["paths"]
    routes = {
        (method.upper(), path)
        for path, ops in schema.items()
        if path.startswith("/api/")
        for method in ops
    }
    listed = {
        (
            m,
            p.replace("/1", "/{incident_id}")
            .replace(SILENCE, "{silence_id}")
            .replace(DEAD, "{job_id}")
            .replace("/steps/restart/", "/steps/{step}/"),
        )
        for m, p, _, _ in ENDPOINTS
    }
    assert routes == listed


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "body", "needs"), ENDPOINTS)
async def test_every_endpoint_for_every_caller(
    client: httpx.AsyncClient,
    real_redis: ArqRedis,
    caller: str,
    method: str,
    path: str,
    body: Any,
    needs: Role,
) -> None:
    """Unauthorised callers get 401/403 and change nothing; authorised ones get through."""
    before = await redis_state(real_redis)
    response = await client.request(method, path, json=body, headers=_headers(caller))
    allowed = caller in TOKENS and Role(caller).allows(needs)
    if allowed:
        assert response.status_code not in (401, 403), response.text
        return
    expected = 401 if caller in ("none", "wrong") else 403
    assert response.status_code == expected, response.text
    after = await redis_state(real_redis)
    audit_after = after.pop(AUDIT_KEY.encode(), None)
    before.pop(AUDIT_KEY.encode(), None)
    assert after == before
    if expected == 403 and method != "GET":
        assert audit_after is not None and b'"outcome": "forbidden"' in audit_after[1][0]


async def test_mutations_are_audited_with_who_what_target_and_outcome(
    client: httpx.AsyncClient,
) -> None:
    """Each mutating call adds one audit record, failures included; GET /api/audit reads them."""
    responder = _headers("responder")
    assert (await client.post("/api/incidents/1/ack", headers=responder)).status_code == 200
    assert (await client.post("/api/incidents/1/ack", headers=responder)).status_code == 409
    assert (await client.get("/api/incidents", headers=responder)).status_code == 200
    records = (await client.get("/api/audit", headers=_headers("viewer"))).json()
    assert [(r["who"], r["action"], r["target"]) for r in records] == [
        ("responder-bot", "acknowledge", "1"),
        ("responder-bot", "acknowledge", "1"),
    ]
    assert records[1]["outcome"] == "ok"
    assert records[0]["outcome"].startswith("error: InvalidTransition")
    assert records[0]["role"] == "responder" and records[0]["at"]


async def test_the_audit_trail_cannot_be_changed_through_the_api(
    client: httpx.AsyncClient,
) -> None:
    """The audit trail has no write route: even an admin's PUT, POST or DELETE is refused."""
    admin = _headers("admin")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await client.request(method, "/api/audit", headers=admin)).status_code == 405


def test_tokens_are_matched_by_hash_and_several_are_valid_at_once() -> None:
    """Old and new tokens both work during a rotation; OPERATOR_TOKEN alone is one admin."""
    old, new = token_hash("old-token"), token_hash("new-token")
    tokens = Tokens(
        [
            TokenConfig(name="ci", role=Role.RESPONDER, sha256=old),
            TokenConfig(name="ci-2", role=Role.RESPONDER, sha256=new),
        ]
    )
    caller_old, caller_new = tokens.caller("old-token"), tokens.caller("new-token")
    assert caller_old is not None and caller_old.name == "ci"
    assert caller_new is not None and caller_new.name == "ci-2"
    assert tokens.caller("other") is None and tokens.caller(old) is None
    single = Tokens([], SecretStr("s3cret")).caller("s3cret")
    assert single is not None and (single.name, single.role) == ("operator", Role.ADMIN)


def test_a_token_in_clear_is_refused_in_the_config() -> None:
    """`sha256` must be a hex digest, so a token pasted in clear fails at start-up."""
    with pytest.raises(ValueError, match="sha256"):
        TokenConfig(name="x", role=Role.ADMIN, sha256="my-plain-token")
