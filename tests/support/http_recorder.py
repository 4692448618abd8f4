"""A recording HTTP server on loopback: the base for Slack, Slack Web API and Sentry stubs."""

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Body = bytes | str | dict[str, Any] | list[Any]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; header names are lower-cased (a repeated header keeps its last)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any | None  # the parsed body when it is JSON, else None


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str
    retry_after: str | None


def _reply(status: int, body: Body, retry_after: float | str | None) -> _Reply:
    retry = None if retry_after is None else str(retry_after)
    if isinstance(body, dict | list):
        return _Reply(status, json.dumps(body).encode(), "application/json", retry)
    data = body.encode() if isinstance(body, str) else body
    return _Reply(status, data, "text/plain; charset=utf-8", retry)


def _parse_json(body: bytes) -> Any | None:
    try:
        return json.loads(body) if body else None
    except ValueError:  # not JSON (a form, a Sentry envelope, gzip): keep the raw bytes only
        return None


class HttpRecorder:
    """Records every request and answers 200 "ok" unless told otherwise with `respond()`.

    Use the `recorder` / `make_recorder` fixtures, or `start()` and `close()` it yourself.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._next: deque[_Reply] = deque()
        self._default = _reply(200, "ok", None)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:41234."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._cond:
            return list(self._requests)

    def json_bodies(self) -> list[Any]:
        """The parsed JSON bodies, skipping requests whose body was not JSON."""
        return [r.json for r in self.requests if r.json is not None]

    def start(self) -> Self:
        """Serve in a daemon thread; returns self so `HttpRecorder().start()` reads naturally."""
        self._thread.start()
        return self

    def respond(
        self,
        status: int,
        body: Body = "",
        *,
        times: int | None = None,
        retry_after: float | str | None = None,
    ) -> None:
        """Answer the next `times` requests so (all later ones if None); dict/list body -> JSON."""
        reply = _reply(status, body, retry_after)
        with self._cond:
            if times is None:
                self._default = reply
            else:
                self._next.extend([reply] * times)

    def wait_for(
        self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float = 10.0
    ) -> list[RecordedRequest]:
        """Block until predicate(requests) holds; raise AssertionError listing what arrived."""
        with self._cond:
            if self._cond.wait_for(lambda: predicate(list(self._requests)), timeout):
                return list(self._requests)
            got = "\n".join(f"  {r.method} {r.path} {r.body[:300]!r}" for r in self._requests)
        raise AssertionError(f"condition not met within {timeout}s; received:\n{got or '  none'}")

    def close(self) -> None:
        """Stop serving and free the port; idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def _record(self, request: RecordedRequest) -> _Reply:
        with self._cond:
            self._requests.append(request)
            reply = self._next.popleft() if self._next else self._default
            self._cond.notify_all()
            return reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0 (the default): one request per connection, so close() really stops it.
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = recorder._record(
                    RecordedRequest(self.command, self.path, headers, body, _parse_json(body))
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                if reply.retry_after is not None:
                    self.send_header("Retry-After", reply.retry_after)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 (stdlib names)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the recorded list is the log

        return Handler
