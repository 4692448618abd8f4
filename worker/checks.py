"""The executor's read-only half: what it may use, whether a step must be refused, and whether a
crashed attempt's action happened. Nothing here changes anything; worker/execute.py acts.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import assert_never
from urllib.parse import urlsplit

import httpx

from core.config import PlantaoConfig
from core.errors import PlatformRefused, PlatformUnavailable
from core.models import Incident
from core.settings import Settings
from core.store import Store
from handlers.actions import (
    Action,
    Advise,
    CollectEvidence,
    DisableFlag,
    FreezeDeploys,
    HandOver,
    RedeployService,
    RestartService,
    RollbackDeploy,
    RollbackRollout,
    SetMaintenanceMode,
    TerminateIdleConnections,
    describe,
)
from handlers.types import Policy, Probes, Step
from worker import evidence
from worker.clients.postgres import PostgresClient
from worker.clients.railway import RailwayClient, ServiceRef
from worker.deployments import confirm_unsigned, service_ref
from worker.guards import REDEPLOY, RESTART, ROLLBACK, Guards
from worker.ledger import Ledger, Record
from worker.outcome import Code, Status, StepRef

MAINTENANCE_VARIABLE = "MAINTENANCE_MODE"  # runbook 002 §5: mass 500s turn on MAINTENANCE_MODE
RAILWAY_TIMEOUT_S = 15.0  # one GraphQL call; mutations are not retried, so this bounds them


@dataclass(frozen=True)
class Timing:
    railway_timeout_s: float = RAILWAY_TIMEOUT_S
    lease_s: float = RAILWAY_TIMEOUT_S + 30.0  # an attempt silent this long is presumed dead
    verify_timeout_s: float = 45.0  # 004 S1 rollback plan: a rollback restores in ~30 s
    verify_interval_s: float = 5.0


@dataclass(frozen=True)
class Refusal:
    code: Code
    reason: str
    status: Status = Status.REFUSED
    retry_after_s: float | None = None


class NoTarget(Exception):
    """The action has nothing to act on (no earlier good deployment, no configured ids)."""


def kind_of(action: Action) -> str | None:
    """The budget kind of a deploy action (restart, rollback, redeploy); None for the others.
    Deploy actions are also the ones a deploy freeze and unsigned confirmation apply to."""
    match action:
        case RestartService():
            return RESTART
        case RollbackDeploy():
            return ROLLBACK
        case RedeployService():
            return REDEPLOY
        case SetMaintenanceMode() | TerminateIdleConnections() | CollectEvidence():
            return None
        case RollbackRollout() | DisableFlag():
            return None
        case FreezeDeploys() | HandOver() | Advise():
            return None
        case _:
            assert_never(action)


def service_of(action: Action) -> str | None:
    """The service the action acts on; None for those that act on no service."""
    match action:
        case RestartService(service=s) | RollbackDeploy(service=s) | RedeployService(service=s):
            return s
        case SetMaintenanceMode(service=s) | TerminateIdleConnections(service=s):
            return s
        case CollectEvidence(service=s) | RollbackRollout(service=s) | DisableFlag(service=s):
            return s
        case FreezeDeploys() | HandOver() | Advise():
            return None
        case _:
            assert_never(action)


def target_of(action: Action) -> str:
    """What the action acts on, for budgets and records: a service, `deploys`, or nothing."""
    return service_of(action) or ("deploys" if isinstance(action, FreezeDeploys) else "")


def database_of(dsn: str) -> str | None:
    """The database a DSN names (URL or key=value form): idle-kill stays inside it."""
    if "://" in dsn:
        return urlsplit(dsn).path.lstrip("/") or None
    found = re.search(r"\bdbname=(\S+)", dsn)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Checks:
    config: PlantaoConfig
    store: Store
    guards: Guards
    ledger: Ledger
    probes: Probes
    railway: RailwayClient | None
    postgres: Callable[[str], PostgresClient] = PostgresClient
    timing: Timing = field(default_factory=Timing)
    http: httpx.AsyncClient | None = None  # for the rollout API (rollout_action_url)

    @classmethod
    def build(
        cls,
        settings: Settings,
        config: PlantaoConfig,
        store: Store,
        probes: Probes,
        http: httpx.AsyncClient,
        timing: Timing | None = None,
    ) -> Checks:
        timing = timing or Timing()
        token = settings.railway_api_token
        railway = None
        if token is not None:
            railway = RailwayClient(
                http,
                settings.railway_api_url,
                token.get_secret_value(),
                timeout_s=timing.railway_timeout_s,
                read_attempts=settings.probe_attempts,
            )
        guards, ledger = Guards(store.redis), Ledger(store.redis)
        return cls(config, store, guards, ledger, probes, railway, timing=timing, http=http)

    def railway_for(self, service: str) -> tuple[RailwayClient, ServiceRef]:
        found = self.railway_or_none(service)
        if found is None:
            raise NoTarget(f"`{service}` has no Railway ids in PLANTAO_CONFIG, or no API token")
        return found

    def railway_or_none(self, service: str) -> tuple[RailwayClient, ServiceRef] | None:
        ref = service_ref(self.config.services.get(service))
        return None if self.railway is None or ref is None else (self.railway, ref)

    def database_for(self, service: str) -> tuple[PostgresClient, str]:
        svc = self.config.services.get(service)
        if svc is None or svc.database_url is None:
            raise NoTarget(f"`{service}` has no database_url in PLANTAO_CONFIG")
        return self.postgres(svc.database_url), svc.database_url

    def rollout_action_for(self, service: str) -> tuple[httpx.AsyncClient, str]:
        """The staged-rollout action URL (000 §9.7); there is no rollout client beyond it yet."""
        svc = self.config.services.get(service)
        if svc is None or svc.rollout_action_url is None or self.http is None:
            raise NoTarget(f"`{service}` has no rollout_action_url in PLANTAO_CONFIG")
        return self.http, svc.rollout_action_url

    def database_or_none(self, service: str) -> PostgresClient | None:
        svc = self.config.services.get(service)
        return None if svc is None or svc.database_url is None else self.postgres(svc.database_url)

    async def refusal(
        self, incident: Incident, step: Step, approved_by: str | None
    ) -> Refusal | None:
        """The first guard that says no, in the order a responder should hear it; else None."""
        action = step.action
        if step.policy is Policy.NEVER:
            return Refusal(Code.POLICY_NEVER, f"never run automatically: {step.why}")
        if step.policy is Policy.APPROVE and not approved_by:
            return Refusal(Code.NEEDS_APPROVAL, f"waits for a responder to approve: {step.why}")
        if isinstance(action, HandOver | Advise):
            return None
        if (paused := await self.guards.state()) is not None:
            when = f"{paused.at:%Y-%m-%d %H:%M} UTC"
            return Refusal(
                Code.PAUSED, f"automation paused by {paused.by} at {when}: {paused.reason}"
            )
        kind, target = kind_of(action), target_of(action)
        if kind is not None and (frozen := await self.guards.frozen()) is not None:
            why = f"deploys frozen by {frozen.by}: {frozen.reason} (runbook 002 §5, 004 S10)"
            return Refusal(Code.DEPLOYS_FROZEN, why)
        if kind is not None and not (budget := await self.guards.budget(kind, target)).allowed:
            why = f"{kind} budget for `{target}` used ({budget.used}/{budget.limit}): 004 S4"
            return Refusal(Code.COOLDOWN, why, retry_after_s=budget.retry_after_s)
        try:
            if isinstance(
                action, RestartService | RollbackDeploy | RedeployService | SetMaintenanceMode
            ):
                self.railway_for(action.service)
            elif isinstance(action, TerminateIdleConnections):
                self.database_for(action.service)
            elif isinstance(action, RollbackRollout | DisableFlag):
                self.rollout_action_for(action.service)
        except NoTarget as exc:
            return Refusal(Code.NOT_CONFIGURED, str(exc))
        if kind is not None and incident.unsigned and not approved_by:
            return await self._unconfirmed(incident, target)
        return None

    async def _unconfirmed(self, incident: Incident, service: str) -> Refusal | None:
        """An unsigned alert may be forged: Railway must confirm it before a deploy action."""
        railway, ref = self.railway_for(service)
        try:
            why = confirm_unsigned(incident, await railway.deployments(ref))
        except PlatformUnavailable as exc:
            wait = self.timing.lease_s
            return Refusal(Code.PLATFORM_UNAVAILABLE, str(exc), Status.RETRY, wait)
        except PlatformRefused as exc:
            why = str(exc)
        if why is None:
            return None
        return Refusal(Code.UNCONFIRMED, f"unsigned alert not confirmed by Railway: {why}")

    async def happened(self, incident: Incident, action: Action, record: Record) -> bool | None:
        """Did a crashed attempt's action take effect? None when the platform cannot tell."""
        try:
            return await self._happened(incident, action, record)
        except (PlatformRefused, NoTarget):
            return None

    async def _happened(self, incident: Incident, action: Action, record: Record) -> bool | None:
        match action:
            case RestartService():
                return None  # a restart leaves no trace in Railway's deployment list
            case RollbackDeploy(service=svc) | RedeployService(service=svc):
                if not record.baseline:
                    return None
                railway, ref = self.railway_for(svc)
                deployments = await railway.deployments(ref, first=5)
                return bool(deployments) and deployments[0].id != record.baseline
            case SetMaintenanceMode(service=svc, enabled=on):
                railway, ref = self.railway_for(svc)
                value = await railway.variable(ref, MAINTENANCE_VARIABLE)
                return value == ("true" if on else "false")
            case TerminateIdleConnections(service=svc, idle_minutes=minutes):
                db, dsn = self.database_for(svc)
                stats = await db.stats(timedelta(minutes=minutes), database=database_of(dsn))
                return stats.idle_over == 0
            case CollectEvidence():
                return await evidence.load(self.store.redis, incident.id) is not None
            case FreezeDeploys():
                return await self.guards.frozen() is not None
            case RollbackRollout() | DisableFlag():
                return None  # the rollout API keeps no trace we could read back
            case HandOver() | Advise():
                return True
            case _:
                assert_never(action)

    async def verify(self, s: StepRef) -> bool | None:
        """Re-probe the step's `verify` endpoint until it passes or time runs out; record it."""
        endpoint, timing = s.step.verify, self.timing
        if endpoint is None:
            return None
        service = service_of(s.step.action) or s.incident.service
        deadline = time.monotonic() + timing.verify_timeout_s
        while True:
            found = await self.probes.endpoint(service, endpoint)
            if found.ok or time.monotonic() >= deadline:
                break
            await asyncio.sleep(timing.verify_interval_s)
        await self.ledger.set_verified(s.key, found.ok)
        event = "step.verified" if found.ok else "step.not_verified"
        detail = found.describe() + ("" if found.ok else ": escalate, not retried")
        await self.store.record(
            s.incident.id, "plantao", event, f"{describe(s.step.action)}: {detail}"
        )
        return found.ok
