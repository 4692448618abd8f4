"""The typed mitigation commands a handler may propose. Only worker/execute.py may run them."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Scenario


@dataclass(frozen=True)
class RestartService:
    service: str


@dataclass(frozen=True)
class RollbackDeploy:
    service: str


@dataclass(frozen=True)
class RedeployService:
    """Build and deploy the running deployment again (Railway "Redeploy": same code, new run)."""

    service: str


@dataclass(frozen=True)
class SetMaintenanceMode:
    service: str
    enabled: bool


@dataclass(frozen=True)
class TerminateIdleConnections:
    service: str
    idle_minutes: int


@dataclass(frozen=True)
class CollectEvidence:
    service: str


@dataclass(frozen=True)
class FreezeDeploys:
    reason: str


@dataclass(frozen=True)
class RollbackRollout:
    """Move the service's staged rollout back one phase (runbook 000 §9.7)."""

    service: str


@dataclass(frozen=True)
class DisableFlag:
    """Turn a feature flag off: a rollout already in alpha has no phase below (000 §9.7)."""

    service: str
    flag: str


@dataclass(frozen=True)
class HandOver:
    """Treat the incident as another scenario (e.g. a full pool is a latency problem)."""

    scenario: Scenario


@dataclass(frozen=True)
class Advise:
    """Tell the responder what to do by hand; plantão never does it itself."""

    text: str


Action = (
    RestartService
    | RollbackDeploy
    | RedeployService
    | SetMaintenanceMode
    | TerminateIdleConnections
    | CollectEvidence
    | FreezeDeploys
    | RollbackRollout
    | DisableFlag
    | HandOver
    | Advise
)


def describe(action: Action) -> str:
    """A short imperative line for Slack and the timeline."""
    match action:
        case RestartService(service=s):
            return f"restart service `{s}`"
        case RollbackDeploy(service=s):
            return f"roll back the last deploy of `{s}`"
        case RedeployService(service=s):
            return f"redeploy the running deployment of `{s}`"
        case SetMaintenanceMode(service=s, enabled=on):
            return f"turn maintenance mode {'on' if on else 'off'} for `{s}`"
        case TerminateIdleConnections(service=s, idle_minutes=m):
            return f"terminate database connections of `{s}` idle > {m} min"
        case CollectEvidence(service=s):
            return f"collect evidence for `{s}`"
        case FreezeDeploys(reason=r):
            return f"freeze deploys ({r})"
        case RollbackRollout(service=s):
            return f"roll the staged rollout of `{s}` back one phase"
        case DisableFlag(service=s, flag=f):
            return f"disable feature flag `{f}` on `{s}`"
        case HandOver(scenario=sc):
            return f"hand over to `{sc}`"
        case Advise(text=t):
            return t
