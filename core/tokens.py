"""Operator API tokens and their roles. Tokens are configured hashed (SHA-256), never in clear.

PLANTAO_CONFIG may list any number of tokens (several valid at once: rotate by adding the new
one, moving clients over, then removing the old one):

    [[tokens]]
    name = "grafana"          # who, for the audit trail
    role = "viewer"           # viewer < responder < admin
    sha256 = "9f86d0..."      # `plantao token-hash` prints it; the token itself is kept elsewhere

OPERATOR_TOKEN alone is the simplest set-up: one admin token named "operator".
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr

OPERATOR = "operator"  # the name OPERATOR_TOKEN's holder gets in the audit trail


class Role(StrEnum):
    """What a token may do; each role may also do everything the roles before it may."""

    VIEWER = "viewer"  # read
    RESPONDER = "responder"  # acknowledge, resolve, silence, approve
    ADMIN = "admin"  # replay, re-drive, pause, freeze

    def allows(self, needed: Role) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.VIEWER: 0, Role.RESPONDER: 1, Role.ADMIN: 2}


class TokenConfig(BaseModel):
    """One `[[tokens]]` entry of PLANTAO_CONFIG."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")  # hex SHA-256 of the token


@dataclass(frozen=True)
class Caller:
    """Who is calling, once their token checked out."""

    name: str
    role: Role


def token_hash(token: str) -> str:
    """The hex SHA-256 that `[[tokens]] sha256` holds for `token`."""
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, tokens: list[TokenConfig], operator_token: SecretStr | None = None) -> None:
        self._known = [(bytes.fromhex(t.sha256), Caller(t.name, t.role)) for t in tokens]
        if operator_token is not None:
            digest = hashlib.sha256(operator_token.get_secret_value().encode()).digest()
            self._known.append((digest, Caller(OPERATOR, Role.ADMIN)))

    @property
    def configured(self) -> bool:
        return bool(self._known)

    def caller(self, token: str) -> Caller | None:
        """Who holds `token`, or None. Every configured hash is compared, in constant time."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, caller in self._known:
            if hmac.compare_digest(known, digest) and found is None:
                found = caller
        return found
