"""A local HTTP server that behaves like Slack's Web API, for the outbox and room tests.

It implements chat.postMessage, chat.update, conversations.history / conversations.replies
(with message metadata), usergroups.users.list, and a response_url endpoint (/actions/...).
It records every request, enforces a per-channel rate limit on posting (429 + Retry-After,
and counts requests that came back before a Retry-After ran out), and can be told to answer
5xx, `ok: false` with a given error (`errors`, `refuse`), or to hold its answer (a client
timeout, or a worker killed mid-send) after posting.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs

TOKEN = "xoxb-test-token"
WRITES = ("chat.postMessage", "chat.update")


@dataclass
class StubMessage:
    ts: str
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    thread_ts: str | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)  # chat.update bodies, in order


@dataclass(frozen=True)
class Call:
    at: float  # time.monotonic()
    method: str
    body: dict[str, Any]
    status: int


class SlackStub:
    def __init__(self, min_interval_s: float = 0.0, retry_after_s: float = 1.0) -> None:
        self.min_interval_s = min_interval_s  # per channel, for chat.postMessage/chat.update
        self.retry_after_s = retry_after_s
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.messages: list[StubMessage] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.groups: dict[str, list[str]] = {}
        self.early: list[Call] = []  # writes that arrived before a Retry-After ran out
        self.fail_status = 0  # answer every write with this status while set (Slack down)
        self.fail_times = 0  # ... or only the next n writes
        self.errors: list[str] = []  # answer the next writes 200 {ok: false, error}, one each
        self.refuse: dict[str, str] = {}  # a write whose text is a key: 200 {ok: false, value}
        self.hold_s = 0.0  # post, then wait this long before answering (the client gives up)
        self._last: dict[str, float] = {}
        self._blocked_until: dict[str, float] = {}
        self._seq = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api"

    @property
    def hooks(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/actions"

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def top(self, channel: str | None = None) -> list[StubMessage]:
        with self.lock:
            return [
                m for m in self.messages if m.thread_ts is None and channel in (None, m.channel)
            ]

    def thread(self, ts: str) -> list[StubMessage]:
        with self.lock:
            return [m for m in self.messages if m.thread_ts == ts]

    def wait_posted(self, n: int, timeout: float = 5.0) -> None:
        """Block until `n` messages were posted (the answer may still be held)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return
            time.sleep(0.01)
        raise AssertionError(f"{n} messages not posted within {timeout} s")

    def writes(self, method: str = "chat.postMessage") -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    # the server side

    def _answer(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """(status, JSON, seconds to wait before answering)."""
        now = time.monotonic()
        with self.lock:
            if method in WRITES:
                status, reply = self._write(method, body, now)
            else:
                status, reply = 200, self._read(method, body)
            self.calls.append(Call(now, method, body, status))
            hold = self.hold_s if method == "chat.postMessage" and status == 200 else 0.0
        return status, reply, hold

    def _write(self, method: str, body: dict[str, Any], now: float) -> tuple[int, dict[str, Any]]:
        channel = str(body.get("channel", ""))
        if now < self._blocked_until.get(channel, 0.0):
            self.early.append(Call(now, method, body, 429))
        if self.fail_status or self.fail_times:
            self.fail_times = max(0, self.fail_times - 1)
            return self.fail_status or 500, {"ok": False, "error": "internal_error"}
        if self.errors:
            return 200, {"ok": False, "error": self.errors.pop(0)}
        if str(body.get("text", "")) in self.refuse:
            return 200, {"ok": False, "error": self.refuse[str(body.get("text", ""))]}
        if now - self._last.get(channel, -1e9) < self.min_interval_s:
            self._blocked_until[channel] = now + self.retry_after_s
            return 429, {"ok": False, "error": "ratelimited"}
        self._last[channel] = now
        if method == "chat.update":
            for m in self.messages:
                if m.channel == channel and m.ts == body.get("ts"):
                    m.text, m.blocks = body.get("text", ""), body.get("blocks", [])
                    m.edits.append(body)
                    return 200, {"ok": True, "channel": channel, "ts": m.ts}
            return 200, {"ok": False, "error": "message_not_found"}
        self._seq += 1
        ts = f"{int(time.time())}.{self._seq:06d}"
        self.messages.append(
            StubMessage(
                ts,
                channel,
                body.get("text", ""),
                body.get("blocks", []),
                body.get("metadata"),
                body.get("thread_ts"),
            )
        )
        return 200, {"ok": True, "channel": channel, "ts": ts}

    def _read(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        with_meta = body.get("include_all_metadata") == "true"

        def shown(m: StubMessage) -> dict[str, Any]:
            out: dict[str, Any] = {"ts": m.ts, "text": m.text}
            if with_meta and m.metadata:
                out["metadata"] = m.metadata
            return out

        if method == "conversations.history":
            found = [m for m in self.messages if m.channel == channel and m.thread_ts is None]
            return {"ok": True, "messages": [shown(m) for m in reversed(found)]}
        if method == "conversations.replies":
            ts = body.get("ts")
            found = [m for m in self.messages if m.channel == channel and m.thread_ts == ts]
            return {"ok": True, "messages": [shown(m) for m in found]}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.groups.get(str(body.get("usergroup")), [])}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/actions/"):
                    with stub.lock:
                        stub.ephemeral.append(json.loads(raw))
                    return self._send(200, {"ok": True}, 0.0)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(200, {"ok": False, "error": "invalid_auth"}, 0.0)
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw)
                else:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                status, reply, hold = stub._answer(self.path.rsplit("/", 1)[-1], body)
                self._send(status, reply, hold)

            def _send(self, status: int, reply: dict[str, Any], hold: float) -> None:
                if hold:
                    time.sleep(hold)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    if status == 429:
                        self.send_header("Retry-After", f"{stub.retry_after_s:g}")
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def signed(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signing headers for `body` (the interactions request)."""
    import hashlib
    import hmac

    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click_body(
    action: str, value: str, user: str = "U0ANA", action_ts: str = "1.1", response_url: str = ""
) -> bytes:
    """A block_actions form body like Slack's (see /work/shared/fixtures/slack)."""
    from urllib.parse import urlencode

    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0PLANTAO"},
        "trigger_id": "1.2.3",
        "team": {"id": "T1", "domain": "example"},
        "channel": {"id": "C0PLANTAO", "name": "incidents"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": f"plantao:{action}",
                "block_id": "incident",
                "value": value,
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
