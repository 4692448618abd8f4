"""Policy overrides from PLANTAO_CONFIG: per scenario and per action, never loosening a never."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import PlantaoConfig, parse_config
from core.errors import ConfigError
from core.models import Scenario
from handlers.actions import Advise, RestartService, RollbackDeploy
from handlers.types import Policy, Step
from worker import policies
from worker.main import main

PLAN = [
    Step(RollbackDeploy("api"), Policy.AUTO, "runbook 001 rule 2"),
    Step(RestartService("api"), Policy.APPROVE, "runbook 004 S1"),
    Step(RollbackDeploy("api"), Policy.NEVER, "runbook 004 S10: destroys evidence"),
    Step(Advise("look"), Policy.AUTO, "runbook 004"),
]


def config(**overrides: str) -> PlantaoConfig:
    return PlantaoConfig(policies=overrides)


def test_a_scenario_override_changes_its_steps_only() -> None:
    """deploy_failed.RollbackDeploy = approve makes that scenario's rollback wait for a human."""
    steps = policies.apply(
        config(**{"deploy_failed.RollbackDeploy": "approve"}), Scenario.DEPLOY_FAILED, PLAN
    )
    assert [s.policy for s in steps] == ["approve", "approve", "never", "auto"]
    assert "policy approve set in PLANTAO_CONFIG" in steps[0].why
    other = policies.apply(
        config(**{"deploy_failed.RollbackDeploy": "approve"}), Scenario.API_DOWN, PLAN
    )
    assert other == PLAN


def test_the_scenario_key_wins_over_the_wildcard() -> None:
    """`*.RestartService = never` applies everywhere but where a scenario says otherwise."""
    cfg = config(**{"*.RestartService": "never", "api_down.RestartService": "auto"})
    assert policies.apply(cfg, Scenario.DATABASE_DOWN, PLAN)[1].policy is Policy.NEVER
    assert policies.apply(cfg, Scenario.API_DOWN, PLAN)[1].policy is Policy.AUTO


def test_a_never_step_stays_never() -> None:
    """An override cannot turn a handler's refusal into an action; the step says so."""
    steps = policies.apply(config(**{"*.RollbackDeploy": "auto"}), Scenario.SECURITY_BREACH, PLAN)
    assert steps[2].policy is Policy.NEVER
    assert "a never step stays never" in steps[2].why


@pytest.mark.parametrize("key", ["RollbackDeploy", "no_such_scenario.RollbackDeploy", "api_down."])
def test_malformed_keys_are_refused_at_load(key: str) -> None:
    """A key that names no scenario is a config error naming the key."""
    with pytest.raises(ConfigError, match="scenario"):
        parse_config(f'[policies]\n"{key}" = "approve"\n', "p.toml")


def test_an_unknown_action_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`*.Reboot` names no action: plantão refuses to start, listing the real ones."""
    with pytest.raises(ConfigError, match="RestartService"):
        policies.check(config(**{"*.Reboot": "auto"}))
    path = tmp_path / "plantao.toml"
    path.write_text('[policies]\n"*.Reboot" = "auto"\n')
    monkeypatch.setenv("PLANTAO_CONFIG", str(path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["classify", str(path)]) == 2
    assert "names no action" in capsys.readouterr().err
