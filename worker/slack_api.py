"""Slack's Web API, the few methods plantão calls, with Slack's answers mapped to our errors.

429 -> RateLimited (with Retry-After), 5xx / timeout / refused connection -> SlackDown (the
message may or may not have been posted), `ok: false` -> SlackRefused (retrying will not help),
except Slack's own transient errors (TRANSIENT -> SlackDown, `ratelimited` -> RateLimited).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import NotifyFailed

# `ok: false` errors that are Slack's trouble, not ours (Slack's method docs: "likely due to a
# transient issue on our end", "It's possible some aspect of the operation succeeded"): sent
# again after a look-up, like a 5xx. `ratelimited` is a 429 in a 200's clothing.
TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
METADATA_TYPE = "plantao_message"  # message metadata event_type: finds our posts after a crash
HISTORY_LIMIT = 200


class SlackDown(NotifyFailed):
    """Slack did not answer, or answered 5xx: the request may or may not have taken effect."""


@dataclass
class RateLimited(NotifyFailed):
    """Slack answered 429: nothing was posted; send nothing to that channel for `retry_after_s`."""

    retry_after_s: float

    def __str__(self) -> str:
        return f"Slack rate-limited us for {self.retry_after_s:g} s"


class SlackRefused(NotifyFailed):
    """Slack understood and said no (`ok: false`): a bad block, an unknown channel..."""


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


class SlackApi:
    def __init__(self, api_url: str, token: str, client: httpx.AsyncClient, timeout_s: float):
        self._base = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._client, self._timeout = client, timeout_s

    async def call(
        self, method: str, payload: dict[str, Any], *, form: bool = False
    ) -> dict[str, Any]:
        """One method; read methods take a form body (Slack accepts JSON only for writes)."""
        url, headers, timeout = f"{self._base}/{method}", self._headers, self._timeout
        try:
            if form:
                data = {
                    k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in payload.items()
                }
                response = await self._client.post(url, data=data, headers=headers, timeout=timeout)
            else:
                response = await self._client.post(
                    url, json=payload, headers=headers, timeout=timeout
                )
        except httpx.HTTPError as exc:
            raise SlackDown(f"Slack unreachable ({method}): {type(exc).__name__}") from exc
        if response.status_code == 429:
            raise RateLimited(_retry_after(response))
        if response.status_code >= 500:
            raise SlackDown(f"Slack answered {response.status_code} to {method}")
        try:
            body = response.json()
        except ValueError as exc:
            raise SlackDown(f"Slack answered {method} with something not JSON") from exc
        if not isinstance(body, dict) or not body.get("ok", False):
            error = body.get("error", "unknown") if isinstance(body, dict) else "unknown"
            if error == "ratelimited":
                raise RateLimited(_retry_after(response))
            if error in TRANSIENT:
                raise SlackDown(f"Slack answered {method} with {error}: a transient error")
            raise SlackRefused(f"Slack refused {method}: {error}")
        return body

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        meta: dict[str, str],
        thread_ts: str | None = None,
    ) -> Posted:
        payload: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": blocks,
            "metadata": {"event_type": METADATA_TYPE, "event_payload": meta},
        }
        if thread_ts:
            payload["thread_ts"] = thread_ts
        body = await self.call("chat.postMessage", payload)
        return Posted(str(body.get("channel", channel)), str(body["ts"]))

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        payload = {"channel": channel, "ts": ts, "text": text, "blocks": blocks}
        await self.call("chat.update", payload)

    async def find(
        self, channel: str, outbox_id: str, oldest_s: float, thread_ts: str | None = None
    ) -> str | None:
        """The ts of a message we posted for outbox item `outbox_id`, found by its metadata."""
        method = "conversations.replies" if thread_ts else "conversations.history"
        payload: dict[str, Any] = {
            "channel": channel,
            "oldest": f"{oldest_s:.6f}",
            "include_all_metadata": True,
            "limit": HISTORY_LIMIT,
        }
        if thread_ts:
            payload["ts"] = thread_ts
        body = await self.call(method, payload, form=True)
        for message in body.get("messages", []):
            meta = message.get("metadata") or {}
            sent = (meta.get("event_payload") or {}).get("outbox_id")
            if meta.get("event_type") == METADATA_TYPE and sent == outbox_id:
                return str(message["ts"])
        return None

    async def group_members(self, group: str) -> list[str]:
        body = await self.call("usergroups.users.list", {"usergroup": group}, form=True)
        return [str(u) for u in body.get("users", [])]
