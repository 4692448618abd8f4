"""The handler registry: one handler per catalogue scenario, from explicit imports."""

from __future__ import annotations

from typing import Any

from core.models import Scenario
from handlers import (
    api_down,
    api_high_latency,
    auth_broken,
    auth_failure_spike,
    data_corruption,
    database_down,
    dependency_down,
    deploy_failed,
    environment_mismatch,
    error_rate_spike,
    eventlog_corruption,
    frontend_down,
    llm_provider_failure,
    llm_rate_limited,
    memory_leak_oom,
    migration_missing,
    rate_limit_abuse,
    rollout_regression,
    security_breach,
    tenant_conflict_spike,
    tenant_suspension_cascade,
    unknown,
)
from handlers.types import Handler

_ALL: tuple[Handler[Any], ...] = (
    api_down.HANDLER,
    api_high_latency.HANDLER,
    auth_broken.HANDLER,
    auth_failure_spike.HANDLER,
    data_corruption.HANDLER,
    database_down.HANDLER,
    dependency_down.HANDLER,
    deploy_failed.HANDLER,
    environment_mismatch.HANDLER,
    error_rate_spike.HANDLER,
    eventlog_corruption.HANDLER,
    frontend_down.HANDLER,
    llm_provider_failure.HANDLER,
    llm_rate_limited.HANDLER,
    memory_leak_oom.HANDLER,
    migration_missing.HANDLER,
    rate_limit_abuse.HANDLER,
    rollout_regression.HANDLER,
    security_breach.HANDLER,
    tenant_conflict_spike.HANDLER,
    tenant_suspension_cascade.HANDLER,
    unknown.HANDLER,
)

# A duplicate scenario would silently drop a handler here; tests/handlers/test_registry.py
# catches it by comparing the keys with the whole Scenario enum.
HANDLERS: dict[Scenario, Handler[Any]] = {h.scenario: h for h in _ALL}
