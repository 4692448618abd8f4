"""plantão (and any other program) as a real subprocess on loopback, for end-to-end tests."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]  # tests/support/processes.py -> the repo
STOP_TIMEOUT_S = 5.0  # SIGTERM grace before SIGKILL


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS just reported free (another process may still race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ManagedProcess:
    """A child in its own process group, with stdout and stderr captured to files in `logdir`."""

    argv: list[str]
    process: subprocess.Popen[bytes]
    logdir: Path

    @property
    def returncode(self) -> int | None:
        """None while running, else the exit code (negative: killed by that signal)."""
        return self.process.poll()

    def output(self) -> str:
        """What the process wrote so far, stdout then stderr."""
        out = (self.logdir / "stdout.log").read_text(errors="replace")
        err = (self.logdir / "stderr.log").read_text(errors="replace")
        return f"$ {' '.join(self.argv)}\n--- stdout ---\n{out}--- stderr ---\n{err}"

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM the process group, SIGKILL it after `timeout` s; returns the exit code."""
        self._signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        """SIGKILL the process group (a crash, to the app); returns the exit code."""
        self._signal(signal.SIGKILL)
        return self.process.wait(timeout=STOP_TIMEOUT_S)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)  # the group we created: children go too


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path = REPO_ROOT,
    logdir: Path | None = None,
) -> ManagedProcess:
    """Start argv with `env` over PATH and HOME only, in a new session, logging into `logdir`.

    Without a `logdir` the logs go to a fresh temporary directory, which is left for reading.
    """
    logdir = Path(tempfile.mkdtemp(prefix="plantao-proc-")) if logdir is None else logdir
    logdir.mkdir(parents=True, exist_ok=True)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(logdir)),
        "PYTHONUNBUFFERED": "1",  # so output() shows the last lines before a kill
        **env,
    }
    with (logdir / "stdout.log").open("wb") as out, (logdir / "stderr.log").open("wb") as err:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    return ManagedProcess(list(argv), process, logdir)


def run_plantao(
    role_env: Mapping[str, str],
    args: Sequence[str] = ("serve",),
    *,
    cwd: Path = REPO_ROOT,
    logdir: Path | None = None,
) -> ManagedProcess:
    """Run `python -m worker.main <args>` in `cwd` (the repo root) with this interpreter.

    `role_env` holds RUN_MODE, REDIS_URL, HOST, PORT, tokens...: nothing else leaks in from the
    test runner's environment.
    """
    return spawn([sys.executable, "-m", "worker.main", *args], role_env, cwd=cwd, logdir=logdir)


def wait_http_ok(url: str, timeout: float = 15.0, process: ManagedProcess | None = None) -> None:
    """Poll GET url until it answers 200; fail at once if `process` exits, or after `timeout` s.

    The AssertionError carries the last status or error seen and the process's output.
    """
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        if process is not None and process.returncode is not None:
            raise AssertionError(
                f"process exited {process.returncode} before {url} was up:\n{process.output()}"
            )
        try:
            response = httpx.get(url, timeout=1.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.05)
    output = process.output() if process is not None else "(no process given)"
    raise AssertionError(f"{url} not 200 within {timeout}s (last: {last}):\n{output}")
