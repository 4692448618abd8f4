"""examples/prometheus-rules.yml, the dead man's switch on plantão itself: valid for Prometheus
(`promtool check rules`), its alerts fire as its unit tests say (`promtool test rules`), and
every plantao_* series they read is one GET /metrics serves."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from prometheus_client.parser import text_string_to_metric_families

from core.settings import Settings
from tests.conftest import MakeClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RULES = EXAMPLES / "prometheus-rules.yml"
RULE_TESTS = EXAMPLES / "prometheus-rules.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed: apt-get install -y --no-install-recommends prometheus",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False, cwd=EXAMPLES
    )


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    """Prometheus would load the file: every expression parses, every template renders."""
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


@needs_promtool
def test_the_dead_mans_switch_fires_as_its_unit_tests_say() -> None:
    """A scrape that stops, a dead worker, a missing scheduler, backlogs, dead letters, 429s
    and a forgotten pause each fire their alert, and a healthy plantão fires none."""
    done = promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


async def test_the_rules_read_only_series_plantao_serves(
    make_client: MakeClient, make_settings: Callable[..., Settings], real_redis: ArqRedis
) -> None:
    """A renamed metric would leave the switch silent forever: every plantao_* name in the
    rules and their tests is a family (or a sample) of GET /metrics."""
    client = await make_client(make_settings(), real_redis)
    response = await client.get("/metrics")
    assert response.status_code == 200
    served: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        served.add(family.name)
        served.update(s.name for s in family.samples)
        if family.type == "counter":
            served.add(f"{family.name}_total")  # the parser drops the suffix from the family
    used = {
        name
        for path in (RULES, RULE_TESTS)
        for name in re.findall(r"\bplantao_[a-z_]+\b", path.read_text(encoding="utf-8"))
    }
    assert len(used) >= 6  # heartbeats, queue, dead letters, Slack outbox and 429s, switches
    assert used - served == set()
