"""Evidence bundles (runbook 003 "Coleta de Evidências", 004 S10 step 2): what the service looked
like when the incident was handled, kept in Redis for the retention the runbook asks, with
anything that looks like a credential removed first.

Key `plantao:evidence:{incident_id}` (string, JSON of `Evidence`), TTL by scenario.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis
from pydantic import BaseModel, ConfigDict

from core.errors import PlatformRefused, PlatformUnavailable
from core.models import Incident, Scenario
from core.store import P, redis_errors
from handlers.probing import check
from handlers.types import Endpoint, Probes
from worker.clients.postgres import PostgresClient
from worker.clients.railway import RailwayClient, ServiceRef

EVIDENCE_TTL = timedelta(days=90)  # 003 "Retenção": keep evidence for at least 90 days
SECURITY_EVIDENCE_TTL = timedelta(days=365)  # 003 "Retenção": security incidents, one year
IDLE_FOR_EVIDENCE = timedelta(minutes=5)  # 004 S2's idle threshold, so the numbers compare
REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private|credential|auth|cookie"
    r"|session|signature|dsn|database_url|redis_url",
    re.IGNORECASE,
)
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> keep the user and host, drop the password
    (re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@", re.IGNORECASE), rf"\1:{REDACTED}@"),
    (
        re.compile(r"\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
        rf"\1 {REDACTED}",
    ),
    # "password": "x", api_key=x, SECRET: 'x' ...
    (
        re.compile(
            r"""(["']?[\w-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key"""
            r"""|private[_-]?key)[\w-]*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&"'}]+)""",
            re.IGNORECASE,
        ),
        rf'\1"{REDACTED}"',
    ),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), REDACTED),  # JWTs
    (re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}"), REDACTED),  # OpenAI / Stripe style keys
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), REDACTED),  # Slack tokens
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),  # GitHub tokens
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),  # AWS access key ids
)


def scrub(text: str) -> str:
    """The text with anything that looks like a token, password or DSN credential replaced."""
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    return text


def scrub_map(values: dict[str, str]) -> dict[str, str]:
    """Labels and the like: values under secret-looking names go, the rest is scrubbed."""
    return {k: REDACTED if _SECRET_KEY.search(k) else scrub(v) for k, v in values.items()}


class HealthEvidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    endpoint: Endpoint
    url: str | None
    status: int | None
    latency_ms: float | None
    error: str | None
    body: str


class DeploymentEvidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: str
    created_at: datetime


class DatabaseEvidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    ping_ms: float
    connections: int
    max_connections: int
    idle_over_5_min: int
    oldest_connection_s: float | None


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_id: str
    service: str
    scenario: Scenario
    summary: str
    collected_at: datetime
    labels: dict[str, str]
    health: list[HealthEvidence]
    database: DatabaseEvidence | None = None
    deployments: list[DeploymentEvidence] = []
    problems: list[str] = []  # what could not be collected, and why


def key(incident_id: str) -> str:
    return f"{P}evidence:{incident_id}"


async def collect(
    incident: Incident,
    probes: Probes,
    db: PostgresClient | None,
    railway: tuple[RailwayClient, ServiceRef] | None,
) -> Evidence:
    """Read-only: health bodies, database stats and recent deployments, all scrubbed."""
    checks = await check(incident, probes, Endpoint.HEALTH, Endpoint.READY, Endpoint.DEEP)
    health = [
        HealthEvidence(
            endpoint=c.endpoint,
            url=None if c.url is None else scrub(c.url),
            status=c.status,
            latency_ms=c.latency_ms,
            error=None if c.error is None else scrub(c.error),
            body=scrub(c.body),
        )
        for c in checks
    ]
    problems: list[str] = []
    database = None
    if db is not None:
        try:
            s = await db.stats(IDLE_FOR_EVIDENCE)
            database = DatabaseEvidence(
                ping_ms=s.ping_ms,
                connections=s.connections,
                max_connections=s.max_connections,
                idle_over_5_min=s.idle_over,
                oldest_connection_s=s.oldest_connection_s,
            )
        except (PlatformUnavailable, PlatformRefused) as exc:
            problems.append(scrub(str(exc)))
    deployments: list[DeploymentEvidence] = []
    if railway is not None:
        client, ref = railway
        try:
            deployments = [
                DeploymentEvidence(id=d.id, status=d.status.value, created_at=d.created_at)
                for d in await client.deployments(ref, first=10)
            ]
        except (PlatformUnavailable, PlatformRefused) as exc:
            problems.append(scrub(str(exc)))
    return Evidence(
        incident_id=incident.id,
        service=incident.service,
        scenario=incident.scenario,
        summary=scrub(incident.summary),
        collected_at=datetime.now(UTC),
        labels=scrub_map(incident.labels),
        health=health,
        database=database,
        deployments=deployments,
        problems=problems,
    )


def retention(incident: Incident) -> timedelta:
    return SECURITY_EVIDENCE_TTL if incident.scenario is Scenario.SECURITY_BREACH else EVIDENCE_TTL


async def save(redis: ArqRedis, incident: Incident, evidence: Evidence) -> int:
    """Store the bundle (replacing an earlier one) for its retention; returns its size in bytes."""
    data = evidence.model_dump_json()
    async with redis_errors():
        await redis.set(key(incident.id), data, ex=int(retention(incident).total_seconds()))
    return len(data)


async def load(redis: ArqRedis, incident_id: str) -> Evidence | None:
    async with redis_errors():
        raw = await redis.get(key(incident_id))
    return None if raw is None else Evidence.model_validate_json(raw)
