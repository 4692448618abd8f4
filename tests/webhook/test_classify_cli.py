"""`plantao classify FILE [--source S]`: every source is told from the body alone; exit 2 for
what cannot be read or understood."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from worker.main import main


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command reads the environment: keep the developer's PLANTAO_CONFIG out of it."""
    monkeypatch.delenv("PLANTAO_CONFIG", raising=False)
    yield


def classify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[list[str]]]:
    code = main(["classify", *args])
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    return code, lines


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (
            "sentry/docs-issue-created.json",
            ["sentry", "P3", "unknown", "front-end", "firing", "sentry:issue:1170820242"],
        ),
        (
            "sentry/docs-metric_alert-resolved.json",
            ["sentry", "P1", "error_rate_spike", "bar", "resolved", "sentry:metric_alert:4"],
        ),
        (
            "railway/docs-new-format-example-deployment-failed.json",
            ["railway", "P1", "deploy_failed", "<service name>", "firing",
             "railway:failed:<environment id>:<service id>"],
        ),
        (
            "railway/derived-legacy-format-DEPLOY-crashed.json",
            ["railway", "P0", "api_down", "[service name]", "firing",
             "railway:crashed:[environment ID]:[service ID]"],
        ),
        (
            "alertmanager/captured-am025-firing-bearer-single-alert.json",
            ["alertmanager", "P3", "unknown"],
        ),
    ],
)  # fmt: skip
def test_each_source_is_detected_from_the_body(
    capsys: pytest.CaptureFixture[str], path: str, line: list[str]
) -> None:
    """Source, severity, scenario, service, state, fingerprint and why, from the body alone."""
    code, lines = classify(capsys, str(FIXTURES / path))
    assert code == 0
    assert lines[0][: len(line)] == line
    assert lines[0][6].startswith("rule ")


def test_unsigned_sources_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    """Railway and the legacy Sentry plugin are flagged unsigned in the why column."""
    _, railway = classify(
        capsys, str(FIXTURES / "railway/derived-new-format-deployment-crashed.json")
    )
    _, legacy = classify(
        capsys, str(FIXTURES / "sentry/zulip-legacy-webhooks-plugin-python-exception.json")
    )
    assert railway[0][6].endswith("unsigned: confirmed with the platform first")
    assert legacy[0][0] == "sentry" and "unsigned" in legacy[0][6]


def test_an_ignored_payload_says_so_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    """A body plantão acknowledges without acting (Sentry installation) prints why, exit 0."""
    code, lines = classify(capsys, str(FIXTURES / "sentry/docs-installation-created.json"))
    assert code == 0
    assert lines == [["sentry: acknowledged and ignored (nothing in it plantão acts on)"]]


def test_the_source_can_be_forced_and_a_wrong_one_is_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--source parses with that source only: the wrong one refuses the body."""
    body = str(FIXTURES / "sentry/docs-issue-created.json")
    assert classify(capsys, body, "--source", "sentry")[0] == 0
    assert main(["classify", body, "--source", "railway"]) == 2
    assert "not a payload plantão understands" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00", b"[1, 2]", b'{"type": 3}', b"{" * 5000])
def test_unknown_or_broken_bodies_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    """Empty, binary, foreign or absurdly nested files are refused with exit 2, never a crash."""
    path = tmp_path / "body.json"
    path.write_bytes(content)
    assert main(["classify", str(path)]) == 2
    assert "not a payload plantão understands" in capsys.readouterr().err


def test_a_directory_is_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path that is not a readable file is exit 2 naming it."""
    assert main(["classify", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err
