"""Classification: alert -> (scenario, severity, why). The only code that maps alerts to scenarios.

The default rules are data (webhook/rules.toml); operators' rules from PLANTAO_CONFIG come first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.config import PlantaoConfig, Rule, parse_config
from core.models import CATALOG_SEVERITY, Alert, Classification, Scenario, Severity
from webhook.prefilter import Prefilter, prefilter

DEFAULT_RULES_FILE = Path(__file__).with_name("rules.toml")
FALLBACK = "no-rule-matched"
# Characters of summary, description and expression that rules search: the first screenful names
# the error, and patterns like "a.*b" take time quadratic in the length (48 kB took 18 s).
SCAN_LIMIT = 1000


class _Scan:
    """What text and expression rules search in one alert, built once per classification."""

    def __init__(self, alert: Alert) -> None:
        self.text = f"{alert.summary[:SCAN_LIMIT]}\n{alert.description[:SCAN_LIMIT]}"
        self.folded = self.text.lower() if self.text.isascii() else None
        self.expr = alert.expr[:SCAN_LIMIT]


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    names: frozenset[str]
    labels: tuple[tuple[str, re.Pattern[str]], ...]
    text: re.Pattern[str] | None
    expr: re.Pattern[str] | None
    text_needs: Prefilter | None = None  # cheap refusals (webhook/prefilter.py)
    expr_needs: Prefilter | None = None

    def match(self, alert: Alert, scan: _Scan) -> list[str] | None:
        """The fields that matched, or None when any condition fails."""
        m = self.rule.match
        used: list[str] = []
        if m.source is not None:
            if alert.source != m.source:
                return None
            used.append(f"source={alert.source}")
        if self.names:
            if alert.name.casefold() not in self.names:
                return None
            used.append(f"alertname={alert.name}")
        for label, pattern in self.labels:
            value = alert.labels.get(label)
            if value is None or not pattern.fullmatch(value):
                return None
            used.append(f"{label}={value}")
        if self.text is not None:
            if self.text_needs and not self.text_needs.may_match(scan.text, scan.folded):
                return None
            found = self.text.search(scan.text)
            if found is None:
                return None
            used.append(f"text~{found.group(0)!r}")
        if self.expr is not None:
            if self.expr_needs and not self.expr_needs.may_match(scan.expr, None):
                return None
            if not self.expr.search(scan.expr):
                return None
            used.append(f"expr={alert.expr}")
        return used


def _compile(rule: Rule) -> _Compiled:
    m = rule.match
    text = re.compile(m.text, re.IGNORECASE) if m.text else None
    expr = re.compile(m.expr) if m.expr else None
    return _Compiled(
        rule=rule,
        names=frozenset(n.casefold() for n in m.alertname),
        labels=tuple((k, re.compile(v, re.IGNORECASE)) for k, v in sorted(m.labels.items())),
        text=text,
        expr=expr,
        text_needs=prefilter(text) if text else None,
        expr_needs=prefilter(expr) if expr else None,
    )


@lru_cache(maxsize=1)
def default_config() -> PlantaoConfig:
    """The shipped classification rules (the shipped inhibition is in core/admission.py)."""
    return parse_config(DEFAULT_RULES_FILE.read_text(encoding="utf-8"), str(DEFAULT_RULES_FILE))


def default_rules() -> list[Rule]:
    return list(default_config().rules)


class Classifier:
    def __init__(self, rules: list[Rule]) -> None:
        self._rules = [_compile(r) for r in rules]
        # Only rules naming no alertname, or this one, can match an alert: per alertname, those
        # rules in their order (most alerts are tried against a handful of rules, not all).
        self._nameless = [c for c in self._rules if not c.names]
        names = {n for c in self._rules for n in c.names}
        self._by_name = {n: [c for c in self._rules if not c.names or n in c.names] for n in names}

    @classmethod
    def from_config(cls, config: PlantaoConfig) -> Classifier:
        return cls([*config.rules, *default_rules()])

    def classify(self, alert: Alert) -> Classification:
        scan = _Scan(alert)
        for compiled in self._by_name.get(alert.name.casefold(), self._nameless):
            used = compiled.match(alert, scan)
            if used is not None:
                rule = compiled.rule
                severity = rule.severity or CATALOG_SEVERITY[rule.scenario]
                return _with_label_severity(alert, rule.scenario, severity, rule.name, used)
        severity = CATALOG_SEVERITY[Scenario.UNKNOWN]
        return _with_label_severity(alert, Scenario.UNKNOWN, severity, FALLBACK, [])


def _with_label_severity(
    alert: Alert, scenario: Scenario, severity: Severity, rule: str, used: list[str]
) -> Classification:
    name = "" if used else alert.name  # only the fallback's reason names the alert
    label = alert.labels.get("severity")
    return _classification(scenario, severity, rule, tuple(used), name, label)


@lru_cache(maxsize=4096)  # a delivery's alerts mostly share their verdict: build it once
def _classification(
    scenario: Scenario,
    severity: Severity,
    rule: str,
    used: tuple[str, ...],
    name: str,
    severity_label: str | None,
) -> Classification:
    why = f"rule {rule}: " + (", ".join(used) if used else f"no rule matches {name}")
    label = (severity_label or "").upper()
    if label in Severity.__members__:
        severity = Severity(label)
        why += f"; severity label {label}"
    return Classification(scenario=scenario, severity=severity, rule=rule, why=why)
