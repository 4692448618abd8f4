"""Settings from the environment (12-factor). Nothing else in plantão reads os.environ."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

RunMode = Literal["api", "worker", "scheduler"]
RUN_MODES: tuple[RunMode, ...] = ("api", "worker", "scheduler")


class Settings(BaseSettings):
    """Every environment variable plantão reads. Secrets are SecretStr; switches default to safe."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, env_ignore_empty=True
    )

    run_mode: RunMode | None = None
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "REDIS_PRIVATE_URL")
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    app_env: Literal["development", "production", "test"] = "development"
    plantao_config: Path | None = None
    dry_run: bool = True

    slack_webhook_url: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api"
    slack_locale: Literal["en", "pt-BR"] = "en"  # the language of Slack messages
    slack_approval_ttl_s: float = Field(default=900.0, gt=0, le=7 * 24 * 3600)  # Approve expires
    slack_min_interval_s: float = Field(default=1.0, ge=0, le=60)  # per channel (Slack: ~1/s)
    slack_request_timeout_s: float = Field(default=10.0, gt=0, le=60)
    public_url: str | None = None  # where operators reach the api: links in truncated messages

    alertmanager_token: SecretStr | None = None
    sentry_client_secret: SecretStr | None = None
    sentry_client_secret_old: SecretStr | None = None
    sentry_legacy_token: SecretStr | None = None  # the unsigned legacy plugin's URL token
    railway_webhook_token: SecretStr | None = None
    railway_api_token: SecretStr | None = None
    railway_api_url: str = "https://backboard.railway.com/graphql/v2"
    operator_token: SecretStr | None = None
    sentry_dsn: SecretStr | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] | None = None  # default: json in production
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # 1 MiB, the webhook size cap
    job_max_tries: int = Field(default=3, ge=1, le=20)
    job_timeout_s: float = Field(default=30.0, gt=0, le=600)  # a handler's diagnosis limit
    worker_poll_delay_s: float = Field(default=0.05, gt=0, le=5)
    worker_max_jobs: int = Field(default=20, ge=1, le=1000)
    # a running job's claim, renewed while its worker lives: a dead worker's job runs again
    # this long after it died (worker/runner.py)
    worker_job_lease_s: float = Field(default=20.0, ge=3, le=600)
    probe_timeout_s: float = Field(default=3.0, gt=0, le=60)
    probe_attempts: int = Field(default=2, ge=1, le=10)
    timeline_max_entries: int = Field(default=1000, ge=10, le=100_000)

    @model_validator(mode="after")
    def _safe_combinations(self) -> Settings:
        if self.slack_bot_token is not None and not self.slack_channel:
            raise ValueError("SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: name the channel")
        if not self.dry_run and (self.slack_bot_token is None or self.slack_signing_secret is None):
            raise ValueError(
                "DRY_RUN=false needs SLACK_BOT_TOKEN, SLACK_CHANNEL and SLACK_SIGNING_SECRET, "
                "so that responders can see and approve what plantão does"
            )
        return self

    @property
    def json_logs(self) -> bool:
        if self.log_format is not None:
            return self.log_format == "json"
        return self.app_env == "production"


def describe_error(exc: ValidationError) -> str:
    """One line per bad variable, naming it the way the operator wrote it (upper case)."""
    lines = []
    for err in exc.errors():
        name = "_".join(str(p) for p in err["loc"]).upper() or "settings"
        lines.append(f"{name}: {err['msg']}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
