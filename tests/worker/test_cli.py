"""The `plantao` command: serve's RUN_MODE and REDIS_URL checks, classify, start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from worker.main import main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUN_MODE", "REDIS_URL", "REDIS_PRIVATE_URL", "PLANTAO_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_serve_without_run_mode_exits_2_naming_the_valid_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`plantao serve` with RUN_MODE unset refuses to guess a role."""
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "RUN_MODE" in err and "api, worker, scheduler" in err


def test_serve_with_a_wrong_run_mode_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """RUN_MODE=both is not a role: exit 2, naming the valid ones."""
    monkeypatch.setenv("RUN_MODE", "both")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "RUN_MODE" in err and "'scheduler'" in err


def test_serve_without_redis_url_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve never falls back to the in-memory store: that would lose alerts."""
    monkeypatch.setenv("RUN_MODE", "worker")
    assert main(["serve"]) == 2
    assert "REDIS_URL" in capsys.readouterr().err


def test_a_bad_config_file_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken PLANTAO_CONFIG fails at start with the file and the reason, exit 2."""
    config = tmp_path / "plantao.toml"
    config.write_text('[[rules]]\nname = "x"\nscenario = "no_such_thing"\nmatch = {}\n')
    monkeypatch.setenv("PLANTAO_CONFIG", str(config))
    assert (
        main(
            ["classify", str(FIXTURES / "alertmanager" / "zulip-firing-2-alerts-same-labels.json")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert str(config) in err and "rules.0.scenario" in err


def test_classify_prints_source_severity_scenario_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """classify FILE shows each alert's classification, one line each."""
    path = FIXTURES / "alertmanager" / "captured-am025-firing-group-with-one-resolved.json"
    assert main(["classify", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    source, severity, scenario, service, state, fingerprint, why = lines[1].split("\t")
    assert (source, severity, scenario, service, state) == (
        "alertmanager",
        "P1",
        "error_rate_spike",
        "api",
        "resolved",
    )
    assert fingerprint == "alertmanager:aff75cb8952de9a8"
    assert why.startswith("rule high-error-rate")


def test_classify_refuses_what_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable or foreign file is exit 2 with a clear message."""
    assert main(["classify", str(tmp_path / "missing.json")]) == 2
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')
    assert main(["classify", str(junk)]) == 2
    assert "not a payload plantão understands" in capsys.readouterr().err
