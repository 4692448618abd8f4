"""The staged-rollout action API of runbook 000 §9.7, as configured per service
(ServiceConfig.rollout_action_url): one POST per action, never retried (it may have applied).
Errors are wrapped where they enter: transport errors, 429 and 5xx raise PlatformUnavailable;
other 4xx (e.g. "already at alpha") raise PlatformRefused with the API's words."""

from __future__ import annotations

import httpx

from core.errors import PlatformRefused, PlatformUnavailable

ERROR_EXCERPT = 200


async def post_action(
    http: httpx.AsyncClient, url: str, body: dict[str, str], timeout_s: float
) -> None:
    try:
        response = await http.post(url, json=body, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise PlatformUnavailable(f"rollout API: {type(exc).__name__}: {exc}"[:300]) from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise PlatformUnavailable(f"rollout API: HTTP {status}")
    if status >= 400:
        raise PlatformRefused(f"rollout API: HTTP {status}: {response.text[:ERROR_EXCERPT]}")
