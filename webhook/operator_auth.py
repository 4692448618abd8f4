"""Who may call the operator API: bearer tokens with roles (core/tokens.py), and the audit record
every mutating call writes (core/audit.py), whatever its outcome.

Routes declare what they need in their signature: `Viewer` to read, `Responder` or `Admin` to
change something. 401: no or unknown token (nothing recorded but a log line); 403: a valid token
whose role is too low (audited as "forbidden"); either way the route never runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request

from core import audit
from core.errors import BadCredentials, Forbidden
from core.tokens import Caller, Role, Tokens

log = structlog.get_logger()


async def authenticate(request: Request) -> Caller:  # async: no thread-pool hop
    deps = request.app.state.deps
    tokens = Tokens(deps.config.tokens, deps.settings.operator_token)
    if not tokens.configured:
        raise BadCredentials(
            "the operator API is closed: set OPERATOR_TOKEN or [[tokens]] in PLANTAO_CONFIG"
        )
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    caller = tokens.caller(token.strip()) if scheme.lower() == "bearer" else None
    if caller is None:
        log.warning("operator.unauthenticated", path=request.url.path)
        raise BadCredentials("missing or wrong operator token")
    structlog.contextvars.bind_contextvars(operator=caller.name)
    return caller


def _action(request: Request) -> tuple[str, str]:
    endpoint = request.scope.get("endpoint")
    action = getattr(endpoint, "__name__", request.url.path)
    target = ",".join(str(v) for v in request.path_params.values()) or "-"
    return action, target


def _mutating(role: Role) -> Callable[[Request], AsyncIterator[Caller]]:
    async def check(request: Request) -> AsyncIterator[Caller]:
        caller = await authenticate(request)
        action, target = _action(request)
        redis = request.app.state.deps.redis
        if not caller.role.allows(role):
            detail = f"{request.method} {request.url.path} needs {role}"
            await audit.write(redis, caller.name, caller.role, action, target, "forbidden", detail)
            raise Forbidden(f"token {caller.name!r} ({caller.role}) may not {action}: needs {role}")
        try:
            yield caller
        except Exception as exc:
            outcome = f"error: {type(exc).__name__}: {exc}"
            await audit.write(redis, caller.name, caller.role, action, target, outcome)
            raise
        await audit.write(redis, caller.name, caller.role, action, target, "ok")

    return check


Viewer = Annotated[Caller, Depends(authenticate)]
Responder = Annotated[Caller, Depends(_mutating(Role.RESPONDER), scope="function")]
Admin = Annotated[Caller, Depends(_mutating(Role.ADMIN), scope="function")]
