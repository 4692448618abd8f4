"""One status API per staged rollout: the service's `rollout_status_url` (+ token), read by the
rollout watchdog and the rollout_regression handler alike; `[[rollouts]]` names the service and
its limits. The first spelling (`[[rollouts]] status_url`, `bearer_token`) still loads."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from core.config import parse_config
from core.errors import ConfigError

SERVICE = """
[services.api]
url = "https://api.example.com"
rollout_status_url = "https://api.example.com/api/feature-flags/rollout/new_dashboard/status"
rollout_status_token = "admin-token"
"""
OLD = """
[[rollouts]]
feature = "new_dashboard"
service = "api"
status_url = "https://api.example.com/api/feature-flags/rollout/new_dashboard/status"
bearer_token = "admin-token"
"""


def test_a_rollout_names_a_service_and_its_limits() -> None:
    """`[[rollouts]]` needs only the service; the limits default to runbook 000 §9.1."""
    config = parse_config(SERVICE + '[[rollouts]]\nservice = "api"\n', "plantao.toml")
    [rollout] = config.rollouts
    assert (rollout.service, rollout.feature) == ("api", "")
    assert rollout.max_error_rate_pct == {"alpha": 5.0, "beta": 2.0, "ga": 1.0}
    assert config.rollout_of("api") == rollout and config.rollout_of("web") is None


def test_limits_given_for_some_phases_keep_the_runbooks_for_the_others() -> None:
    """`max_error_rate_pct = { Beta = 4.0 }` raises beta's limit only (phases in lower case,
    as the status API's currentPhase is read)."""
    toml = SERVICE + '[[rollouts]]\nservice = "api"\nmax_error_rate_pct = { Beta = 4.0 }\n'
    [rollout] = parse_config(toml, "plantao.toml").rollouts
    assert rollout.max_error_rate_pct == {"alpha": 5.0, "beta": 4.0, "ga": 1.0}


def test_the_deprecated_spelling_moves_to_the_service_with_a_warning() -> None:
    """`status_url` / `bearer_token` on [[rollouts]] become the service's `rollout_status_url` /
    `rollout_status_token` (the service is created when not declared), and each is logged."""
    with capture_logs() as logs:
        config = parse_config(OLD, "plantao.toml")
    svc = config.services["api"]
    assert svc.rollout_status_url == (
        "https://api.example.com/api/feature-flags/rollout/new_dashboard/status"
    )
    assert svc.rollout_status_token is not None
    assert svc.rollout_status_token.get_secret_value() == "admin-token"
    assert svc.url is None and config.rollouts[0].feature == "new_dashboard"
    assert [(e["event"], e["key"], e["use"]) for e in logs] == [
        ("config.deprecated", "rollouts.0.status_url", "services.api.rollout_status_url"),
        ("config.deprecated", "rollouts.0.bearer_token", "services.api.rollout_status_token"),
    ]


def test_the_deprecated_spelling_beside_the_same_service_values_loads() -> None:
    """Both spellings with the same URL and token (a config half-way through migrating)."""
    config = parse_config(SERVICE + OLD, "plantao.toml")
    assert config.services["api"].url == "https://api.example.com"  # the service's other keys
    assert config.rollouts[0].service == "api"


@pytest.mark.parametrize(
    ("toml", "complaint"),
    [
        (
            SERVICE + OLD.replace("new_dashboard/status", "other/status"),
            "plantao.toml: Value error, rollouts.0.status_url \\(deprecated\\) differs from "
            "services.api.rollout_status_url: keep only services.api.rollout_status_url",
        ),
        (
            SERVICE + OLD.replace('"admin-token"', '"another"'),
            "rollouts.0.bearer_token \\(deprecated\\) differs from "
            "services.api.rollout_status_token",
        ),
        (
            '[services.api]\nurl = "https://a"\n\n[[rollouts]]\nservice = "api"\n',
            "plantao.toml:4: rollouts: .*service 'api' has no rollout_status_url: give it in "
            "\\[services.api\\]",
        ),
        (
            '[[rollouts]]\nservice = "web"\n',
            "plantao.toml:1: rollouts: .*service 'web' has no rollout_status_url",
        ),
        (
            SERVICE + '[[rollouts]]\nservice = "api"\n[[rollouts]]\nservice = "api"\n',
            "service 'api' is named twice: one per service",
        ),
        (
            '[[rollouts]]\nstatus_url = "https://a"\n',
            "rollouts.0: give `service`, the service whose status API it is",
        ),
    ],
    ids=["other url", "other token", "no status url", "no service", "twice", "no service name"],
)
def test_an_ambiguous_rollout_stops_start_up_naming_both_places(toml: str, complaint: str) -> None:
    """Two different status APIs for one service, or a rollout with none, is refused."""
    with pytest.raises(ConfigError, match=complaint):
        parse_config(toml, "plantao.toml")
