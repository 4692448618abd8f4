"""Operators' policy overrides (PLANTAO_CONFIG [policies]) applied to a handler's plan.

A key names a scenario (or `*` for all) and an action type: `"deploy_failed.RollbackDeploy" =
"approve"`. The scenario's own key wins over `*`. An override may make a step stricter or
looser, except that a step its handler marks `never` stays `never`: those refusals carry a
runbook reason (a rollback destroys breach evidence, runbook 004 S10; migrations are never
applied automatically, runbook 001).
"""

from __future__ import annotations

import dataclasses
import typing

from core.config import PlantaoConfig
from core.errors import ConfigError
from core.models import Scenario
from handlers import actions
from handlers.types import Policy, Step

ACTION_NAMES = frozenset(t.__name__ for t in typing.get_args(actions.Action))


def check(config: PlantaoConfig) -> None:
    """Refuse at start-up an override naming an action plantão does not have."""
    for key in config.policies:
        action = key.partition(".")[2]
        if action not in ACTION_NAMES:
            known = ", ".join(sorted(ACTION_NAMES))
            raise ConfigError(f"policies: {key!r} names no action; one of {known}")


def apply(config: PlantaoConfig, scenario: Scenario, steps: list[Step]) -> list[Step]:
    if not config.policies:
        return steps
    out = []
    for step in steps:
        name = type(step.action).__name__
        wanted = config.policies.get(f"{scenario}.{name}") or config.policies.get(f"*.{name}")
        if wanted is None or Policy(wanted) is step.policy:
            out.append(step)
        elif step.policy is Policy.NEVER:
            note = f"{step.why} (PLANTAO_CONFIG asks {wanted}; a never step stays never)"
            out.append(dataclasses.replace(step, why=note))
        else:
            note = f"{step.why} (policy {wanted} set in PLANTAO_CONFIG)"
            out.append(dataclasses.replace(step, policy=Policy(wanted), why=note))
    return out
