"""The harness itself: recorder, real Alertmanager and subprocess helpers behave as promised."""

import signal
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.support.fixtures import MakeAlertmanager, RunPlantao
from tests.support.http_recorder import HttpRecorder, RecordedRequest
from tests.support.processes import REPO_ROOT, free_port, run_plantao, spawn, wait_http_ok

ALERT = {"labels": {"alertname": "ServiceDown", "service": "api", "severity": "critical"}}


def _statuses(requests: list[RecordedRequest]) -> list[str]:
    return [r.json["status"] for r in requests if r.json is not None]


def test_recorder_records_requests_and_follows_scripted_replies(recorder: HttpRecorder) -> None:
    """Scripted replies answer the next N requests, then the default answers; all are recorded."""
    recorder.respond(429, "rate_limited", times=2, retry_after=3)
    replies = [httpx.post(f"{recorder.url}/hook", json={"n": n}) for n in range(3)]

    assert [(r.status_code, r.headers.get("retry-after")) for r in replies] == [
        (429, "3"),
        (429, "3"),
        (200, None),
    ]
    assert replies[2].text == "ok"
    assert recorder.json_bodies() == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert recorder.requests[0].headers["content-type"] == "application/json"


def test_recorder_can_answer_json_always(recorder: HttpRecorder) -> None:
    """A dict reply is sent as JSON to every request, as the Slack Web API stub needs."""
    recorder.respond(200, {"ok": True, "ts": "1.0"})

    assert httpx.post(f"{recorder.url}/chat.postMessage", content=b"x=1").json()["ok"] is True
    assert httpx.get(f"{recorder.url}/auth.test").json() == {"ok": True, "ts": "1.0"}
    assert recorder.requests[0].json is None  # a form body is kept raw, not parsed


def test_recorder_wait_for_reports_what_arrived(recorder: HttpRecorder) -> None:
    """A wait that times out says which requests did arrive."""
    httpx.post(f"{recorder.url}/first", json={})

    with pytest.raises(AssertionError, match="POST /first"):
        recorder.wait_for(lambda requests: len(requests) >= 2, timeout=0.2)


@pytest.mark.integration
@pytest.mark.e2e
def test_alertmanager_delivers_firing_then_resolved(
    recorder: HttpRecorder, alertmanager: MakeAlertmanager
) -> None:
    """A posted alert reaches the webhook with the bearer token, and its resolution follows."""
    am = alertmanager(f"{recorder.url}/webhooks/alertmanager", bearer_token="t0ken")

    am.post_alerts([ALERT])
    (firing,) = recorder.wait_for(lambda requests: len(requests) >= 1, timeout=10)
    am.resolve()
    recorder.wait_for(lambda requests: "resolved" in _statuses(requests), timeout=10)

    assert (firing.method, firing.path) == ("POST", "/webhooks/alertmanager")
    assert firing.headers["authorization"] == "Bearer t0ken"
    assert firing.json is not None and firing.json["version"] == "4"
    assert firing.json["alerts"][0]["labels"] == ALERT["labels"]
    assert _statuses(recorder.requests) == ["firing", "resolved"]


@pytest.mark.integration
@pytest.mark.e2e
def test_spawned_process_is_polled_until_up_and_stopped(tmp_path: Path) -> None:
    """wait_http_ok returns once the server answers 200, and SIGTERM ends it."""
    port = free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    proc = spawn(argv, {}, cwd=tmp_path, logdir=tmp_path / "logs")
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/", timeout=10, process=proc)
    finally:
        assert proc.stop() == -signal.SIGTERM


@pytest.mark.integration
@pytest.mark.e2e
def test_wait_http_ok_fails_fast_with_the_output_of_a_dead_process(tmp_path: Path) -> None:
    """A process that dies before serving fails the wait at once, showing what it printed."""
    argv = [sys.executable, "-c", "import sys; sys.exit('RUN_MODE is bad')"]
    proc = spawn(argv, {}, logdir=tmp_path)

    with pytest.raises(AssertionError, match="RUN_MODE is bad"):
        wait_http_ok(f"http://127.0.0.1:{free_port()}/health", timeout=10, process=proc)
    assert proc.returncode == 1


FAKE_MAIN = """
    import http.server, json, os, sys
    assert sys.argv[1:] == ["serve"] and os.environ["RUN_MODE"] == "api"

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(sorted(os.environ)).encode()
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(body)

    http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Health).serve_forever()
"""


@pytest.mark.integration
@pytest.mark.e2e
def test_run_plantao_passes_only_the_role_environment(tmp_path: Path) -> None:
    """run_plantao runs `-m worker.main serve` with the role's variables and no others."""
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "main.py").write_text(textwrap.dedent(FAKE_MAIN))
    port = free_port()
    env = {"RUN_MODE": "api", "HOST": "127.0.0.1", "PORT": str(port)}
    proc = run_plantao(env, cwd=tmp_path, logdir=tmp_path / "logs")
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", timeout=10, process=proc)
        seen = httpx.get(f"http://127.0.0.1:{port}/health").json()
    finally:
        proc.kill()
    assert set(seen) - {"LC_CTYPE"} == {*env, "PATH", "HOME", "PYTHONUNBUFFERED"}


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.skipif(not (REPO_ROOT / "worker" / "main.py").exists(), reason="no worker/main.py yet")
def test_plantao_api_answers_health_and_stops_on_sigterm(plantao: RunPlantao) -> None:
    """The real `serve` in RUN_MODE=api answers GET /health and exits within 5 s of SIGTERM."""
    port = free_port()
    env = {"RUN_MODE": "api", "HOST": "127.0.0.1", "PORT": str(port), "APP_ENV": "test"}
    proc = plantao({**env, "REDIS_URL": "redis://127.0.0.1:6379/15"})

    wait_http_ok(f"http://127.0.0.1:{port}/health", timeout=20, process=proc)

    assert proc.stop() != -signal.SIGKILL, proc.output()
