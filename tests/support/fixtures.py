"""Pytest fixtures for the harness: recorders, Alertmanager and plantão processes, all torn down.

tests/conftest.py loads this module with `pytest_plugins = ["tests.support.fixtures"]`.
"""

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest

from tests.support.alertmanager import AlertmanagerProcess, alertmanager_binary, start_alertmanager
from tests.support.http_recorder import HttpRecorder
from tests.support.processes import ManagedProcess, run_plantao


class MakeAlertmanager(Protocol):
    """The `alertmanager` fixture: starts one more Alertmanager for this test."""

    def __call__(
        self, webhook_url: str, bearer_token: str | None = None
    ) -> AlertmanagerProcess: ...


class RunPlantao(Protocol):
    """The `plantao` fixture: starts one more plantão process for this test."""

    def __call__(
        self, env: Mapping[str, str], args: Sequence[str] = ("serve",)
    ) -> ManagedProcess: ...


@pytest.fixture
def make_recorder() -> Iterator[Callable[[], HttpRecorder]]:
    """Factory for started recorders (one per fake: Slack, Slack API, Sentry); all closed after."""
    made: list[HttpRecorder] = []

    def make() -> HttpRecorder:
        made.append(HttpRecorder().start())
        return made[-1]

    yield make
    for rec in made:
        rec.close()


@pytest.fixture
def recorder(make_recorder: Callable[[], HttpRecorder]) -> HttpRecorder:
    """One started recorder, closed after the test."""
    return make_recorder()


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[MakeAlertmanager]:
    """Factory `alertmanager(webhook_url, bearer_token=None)`; skips when the binary is missing."""
    if alertmanager_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs the prometheus-alertmanager binary (.ci/run installs it)")
        pytest.skip("prometheus-alertmanager is not installed")
    started: list[AlertmanagerProcess] = []

    def make(webhook_url: str, bearer_token: str | None = None) -> AlertmanagerProcess:
        started.append(start_alertmanager(tmp_path, webhook_url, bearer_token))
        return started[-1]

    yield make
    for am in started:
        am.stop()


@pytest.fixture
def plantao(tmp_path: Path) -> Iterator[RunPlantao]:
    """Factory `plantao(env, args=("serve",))`; stops every process after the test and prints its
    output, which pytest shows when the test failed."""
    started: list[ManagedProcess] = []

    def run(env: Mapping[str, str], args: Sequence[str] = ("serve",)) -> ManagedProcess:
        logdir = tmp_path / f"plantao-{len(started)}-{env.get('RUN_MODE', 'none')}"
        started.append(run_plantao(env, args, logdir=logdir))
        return started[-1]

    yield run
    for proc in started:
        proc.stop()
        print(proc.output())
