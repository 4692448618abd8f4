"""Settings: safe defaults, clear errors naming the variable, dangerous combinations refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import Settings, describe_error


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set, plantão is in dry-run, bound to loopback, with a 1 MiB body cap."""
    for name in ("DRY_RUN", "HOST", "MAX_BODY_BYTES", "RUN_MODE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.dry_run is True
    assert settings.host == "127.0.0.1"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.run_mode is None and settings.redis_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"RUN_MODE": "cron"}, "RUN_MODE"),
        ({"DRY_RUN": "perhaps"}, "DRY_RUN"),
        ({"JOB_MAX_TRIES": "0"}, "JOB_MAX_TRIES"),
    ],
)
def test_a_malformed_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    """The error says which variable is wrong, in the operator's spelling."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert describe_error(caught.value).startswith(f"{named}:")


def test_run_mode_error_lists_the_valid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """RUN_MODE=cron is refused naming api, worker and scheduler (runbook 001)."""
    monkeypatch.setenv("RUN_MODE", "cron")
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = describe_error(caught.value)
    assert all(mode in message for mode in ("api", "worker", "scheduler"))


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`RUN_MODE=` from an env file is unset, not an invalid value."""
    monkeypatch.setenv("RUN_MODE", "")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "")
    settings = Settings()
    assert settings.run_mode is None and settings.slack_webhook_url is None


def test_redis_private_url_is_accepted_as_an_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    """Railway's REDIS_PRIVATE_URL works where REDIS_URL is not set."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_PRIVATE_URL", "redis://10.0.0.1:6379/0")
    assert Settings().redis_url == "redis://10.0.0.1:6379/0"


def test_turning_dry_run_off_needs_a_slack_approver(monkeypatch: pytest.MonkeyPatch) -> None:
    """DRY_RUN=false without a Slack bot, channel and signing secret is refused."""
    monkeypatch.setenv("DRY_RUN", "false")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "SLACK_SIGNING_SECRET" in str(caught.value)


def test_a_bot_token_needs_a_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    """SLACK_BOT_TOKEN alone cannot post anywhere, so it is refused at start."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    with pytest.raises(ValidationError, match="SLACK_CHANNEL"):
        Settings()


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Printing settings (or logging them) never shows a secret."""
    monkeypatch.setenv("ALERTMANAGER_TOKEN", "canary-secret-value")
    assert "canary-secret-value" not in repr(Settings())
