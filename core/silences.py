"""Silences and maintenance windows: alerts they match are recorded but notify nobody and run
no handler. Silences live in Redis (operator API, CLI); windows come from PLANTAO_CONFIG."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from arq.connections import ArqRedis
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.config import MaintenanceWindow
from core.cron import cron_matches
from core.models import Alert, Classification
from core.store import redis_errors

KEY = "plantao:silences"
FIELDS = ("service", "scenario", "severity", "source", "alertname")  # or "label:<name>"
MATCHER = re.compile(r"^(?P<field>[a-z_]+|label:[\w.\-/]+)(?P<op>=~|=)(?P<value>.*)$")
RETAIN_EXPIRED = timedelta(days=7)  # expired silences stay listed this long, then go


class Matcher(BaseModel):
    """`field=value` (exact, case-insensitive) or `field=~regex` (full match, no case)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    value: str
    regex: bool = False

    @field_validator("field")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in FIELDS and not value.startswith("label:"):
            raise ValueError(f"{value!r}: use one of {', '.join(FIELDS)} or label:<name>")
        return value

    @model_validator(mode="after")
    def _compiles(self) -> Matcher:
        if self.regex:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {self.value!r}") from exc
        return self

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`service=api`, `scenario=~api_.*`, `label:env=staging`."""
        found = MATCHER.match(text.strip())
        if found is None:
            raise ValueError(f"{text!r}: write field=value or field=~regex")
        return cls(field=found["field"], value=found["value"], regex=found["op"] == "=~")

    def matches(self, alert: Alert, found: Classification) -> bool:
        actual = {
            "service": alert.service,
            "scenario": found.scenario.value,
            "severity": found.severity.value,
            "source": alert.source.value,
            "alertname": alert.name,
        }.get(self.field)
        if self.field.startswith("label:"):
            actual = alert.labels.get(self.field.removeprefix("label:"))
        if actual is None:
            return False
        if self.regex:
            return re.fullmatch(self.value, actual, re.IGNORECASE) is not None
        return actual.casefold() == self.value.casefold()


class Silence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: f"silence-{uuid.uuid4().hex[:12]}")
    kind: Literal["silence", "maintenance"] = "silence"
    matchers: list[Matcher] = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    author: str = Field(min_length=1)
    comment: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert, found: Classification) -> bool:
        return all(m.matches(alert, found) for m in self.matchers)


def window_active(window: MaintenanceWindow, now: datetime) -> bool:
    """One-off: between starts and ends. Recurring: a cron start within the last duration."""
    if window.cron is None:
        return (
            window.starts is not None
            and window.ends is not None
            and (window.starts <= now < window.ends)
        )
    local = now.astimezone(ZoneInfo(window.timezone)).replace(second=0, microsecond=0)
    return any(
        cron_matches(window.cron, local - timedelta(minutes=back))
        for back in range(window.duration_minutes)
    )


def silencer(
    silences: list[Silence], windows: list[MaintenanceWindow], alert: Alert, found: Classification
) -> str:
    """The id of the first active silence or window that covers the alert, or ''."""
    now = datetime.now(UTC)
    for silence in silences:
        if silence.active(now) and silence.matches(alert, found):
            return silence.id
    for window in windows:
        if window.service == alert.service and window_active(window, now):
            return f"maintenance:{window.name}"
    return ""


class Silences:
    """The silences kept in Redis."""

    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis

    async def add(self, silence: Silence) -> Silence:
        async with redis_errors():
            await self._redis.hset(KEY, silence.id, silence.model_dump_json())  # type: ignore[misc]
        return silence

    async def all(self) -> list[Silence]:
        async with redis_errors():
            raw = await self._redis.hgetall(KEY)  # type: ignore[misc]
        now = datetime.now(UTC)
        kept: list[Silence] = []
        stale: list[bytes] = []
        for key, value in raw.items():
            silence = Silence.model_validate(json.loads(value))
            if silence.ends_at < now - RETAIN_EXPIRED:
                stale.append(key)
            else:
                kept.append(silence)
        if stale:
            async with redis_errors():
                await self._redis.hdel(KEY, *stale)  # type: ignore[misc, arg-type]
        return sorted(kept, key=lambda s: s.starts_at)

    async def active(self) -> list[Silence]:
        now = datetime.now(UTC)
        return [s for s in await self.all() if s.active(now)]

    async def expire(self, silence_id: str) -> Silence | None:
        """End a silence now; None when there is no such silence."""
        async with redis_errors():
            raw = await self._redis.hget(KEY, silence_id)  # type: ignore[misc]
        if raw is None:
            return None
        silence = Silence.model_validate(json.loads(raw))
        now = datetime.now(UTC)
        if silence.ends_at <= now:
            return silence
        ended = silence.model_copy(
            update={"starts_at": min(silence.starts_at, now - timedelta(seconds=1)), "ends_at": now}
        )
        await self.add(ended)
        return ended
