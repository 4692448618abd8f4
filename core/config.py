"""PLANTAO_CONFIG: the operator's TOML file of monitored services and extra classification rules."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError
from core.models import Scenario, Severity, Source


class ServiceConfig(BaseModel):
    """A service plantão watches. `url` is its base URL; health paths follow runbook 001."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    health_path: str = "/health"
    ready_path: str = "/health/ready"
    deep_path: str = "/health/deep"

    def endpoint(self, path: str) -> str | None:
        return None if self.url is None else self.url.rstrip("/") + path


class RuleMatch(BaseModel):
    """What an alert must look like for a rule to apply. Every given condition must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source | None = None
    alertname: list[str] = Field(default_factory=list)  # exact names, case-insensitive
    labels: dict[str, str] = Field(default_factory=dict)  # label -> regex (full match, no case)
    text: str | None = None  # regex searched in the summary and description (no case)
    expr: str | None = None  # regex searched in the Prometheus expression

    @field_validator("text", "expr")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            _check_regex(value)
        return value

    @field_validator("labels")
    @classmethod
    def _label_patterns_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _check_regex(pattern)
        return value


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc}): {pattern!r}") from exc


class Rule(BaseModel):
    """alert -> (scenario, severity). `severity` defaults to the catalogue's for the scenario."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    scenario: Scenario
    severity: Severity | None = None
    match: RuleMatch


class PlantaoConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)


def parse_config(text: str, origin: str) -> PlantaoConfig:
    """Parse TOML config text; errors name the origin (file) and the offending place."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        return PlantaoConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from exc


def load_config(path: Path | None) -> PlantaoConfig:
    if path is None:
        return PlantaoConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"PLANTAO_CONFIG={path}: cannot read it: {exc.strerror}") from exc
    return parse_config(text, str(path))
