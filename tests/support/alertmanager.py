"""The real Prometheus Alertmanager (Debian's prometheus-alertmanager) on loopback, for tests."""

import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import free_port

READY_TIMEOUT_S = 15.0  # the binary is ready in well under a second here; 15 s absorbs slow CI
STOP_TIMEOUT_S = 5.0
BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")  # Debian's name, then upstream's


def alertmanager_binary() -> str | None:
    """Path of the Alertmanager binary on PATH (or /usr/bin), or None when it is not installed."""
    for name in BINARY_NAMES:
        if found := shutil.which(name) or shutil.which(name, path="/usr/bin"):
            return found
    return None


def _key(alert: Mapping[str, Any]) -> str:
    return json.dumps(alert["labels"], sort_keys=True)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class AlertmanagerProcess:
    """A running Alertmanager: `url` is its base URL; alerts posted through it are remembered."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    posted: dict[str, dict[str, Any]] = field(default_factory=dict)  # last sent, by label set

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """POST alerts to /api/v2/alerts, as Prometheus would; returns what was sent.

        Each alert needs `labels`; `annotations`, `generatorURL`, `endsAt` are passed through and
        `startsAt` defaults to now, so that `resolve()` can repeat it.
        """
        now = _timestamp(datetime.now(UTC))
        sent = [{"annotations": {}, "startsAt": now, **alert} for alert in alerts]
        response = httpx.post(f"{self.url}/api/v2/alerts", json=sent, timeout=5.0)
        if response.status_code != 200:
            raise AssertionError(
                f"Alertmanager refused alerts: {response.status_code} {response.text}"
            )
        self.posted.update((_key(alert), alert) for alert in sent)
        return sent

    def resolve(self, alerts: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Re-post alerts (default: all posted so far) with endsAt a second ago: resolved.

        Alerts are matched by labels, and keep the startsAt they were first posted with.
        """
        ended = _timestamp(datetime.now(UTC) - timedelta(seconds=1))
        targets = list(self.posted.values()) if alerts is None else alerts
        started = {key: alert["startsAt"] for key, alert in self.posted.items()}
        return self.post_alerts(
            [{**a, "startsAt": started.get(_key(a), ended), "endsAt": ended} for a in targets]
        )

    def log(self) -> str:
        """Everything Alertmanager wrote to stdout and stderr so far."""
        return (self.workdir / "alertmanager.log").read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)


def write_config(path: Path, webhook_url: str, bearer_token: str | None = None) -> Path:
    """Write an alertmanager.yml (JSON is valid YAML) with one webhook receiver; returns path."""
    receiver: dict[str, Any] = {"url": webhook_url, "send_resolved": True}
    if bearer_token is not None:
        receiver["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer_token}}
    config = {
        "route": {
            "receiver": "plantao",
            "group_by": ["alertname", "service"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "plantao", "webhook_configs": [receiver]}],
    }
    path.write_text(json.dumps(config, indent=2))
    return path


def start_alertmanager(
    tmp_path: Path, webhook_url: str, bearer_token: str | None = None
) -> AlertmanagerProcess:
    """Start Alertmanager on a free loopback port with clustering off; return once /-/ready is 200.

    Raises AssertionError with Alertmanager's log when it exits or is not ready in time.
    """
    binary = alertmanager_binary()
    if binary is None:
        raise FileNotFoundError(
            f"none of {BINARY_NAMES} is installed (apt install prometheus-alertmanager)"
        )
    workdir = tmp_path / f"alertmanager-{time.monotonic_ns()}"
    (workdir / "data").mkdir(parents=True)
    config = write_config(workdir / "alertmanager.yml", webhook_url, bearer_token)
    address = f"127.0.0.1:{free_port()}"
    with (workdir / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address={address}",
                "--cluster.listen-address=",  # empty: no gossip, no peers, no extra ports
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    am = AlertmanagerProcess(f"http://{address}", process, workdir)
    try:
        _wait_ready(am)
    except BaseException:
        am.stop()
        raise
    return am


def _wait_ready(am: AlertmanagerProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if am.process.poll() is not None:
            raise AssertionError(f"Alertmanager exited {am.process.returncode}:\n{am.log()}")
        try:
            if httpx.get(f"{am.url}/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"Alertmanager not ready in {READY_TIMEOUT_S}s at {am.url}:\n{am.log()}")
