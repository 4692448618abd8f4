"""The intake's decisions before the store: classify, group, silence and inhibition inputs."""

from __future__ import annotations

import time
from collections.abc import Sequence

from core.config import Inhibit, PlantaoConfig
from core.models import Alert, Scenario, Severity
from core.silences import Silence, Silences, silencer
from core.store import Arrival, group_key
from webhook.classify import Classifier, default_config

SILENCE_CACHE_S = 1.0  # a silence made through another api process applies within this time


class Intake:
    def __init__(self, config: PlantaoConfig, silences: Silences) -> None:
        self.classifier = Classifier.from_config(config)
        self._config = config
        rules = config.inhibit if config.inhibit is not None else default_config().inhibit or []
        self._inhibitors = _inhibitors(rules)
        self._silences = silences
        self._cached: list[Silence] = []
        self._cached_at = float("-inf")

    def forget_silences(self) -> None:
        """Re-read silences on the next delivery (after this process changed them)."""
        self._cached_at = float("-inf")

    async def _active_silences(self) -> list[Silence]:
        if time.monotonic() - self._cached_at > SILENCE_CACHE_S:
            self._cached = await self._silences.active()
            self._cached_at = time.monotonic()
        return self._cached

    async def admit(self, alerts: Sequence[Alert]) -> list[Arrival]:
        silences = await self._active_silences() if alerts else []
        windows = self._config.maintenance
        arrivals = []
        for alert in alerts:
            found = self.classifier.classify(alert)
            sources, max_severity = self._inhibitors.get(found.scenario, ((), Severity.P0))
            arrivals.append(
                Arrival(
                    alert=alert,
                    found=found,
                    group=group_key(self._config.incidents.group_by, alert, found),
                    silenced_by=silencer(silences, windows, alert, found),
                    inhibitors=sources,
                    inhibit_max=max_severity,
                )
            )
        return arrivals


def _inhibitors(rules: list[Inhibit]) -> dict[Scenario, tuple[tuple[Scenario, ...], Severity]]:
    """target scenario -> (the scenarios that inhibit it, the least severity that does)."""
    out: dict[Scenario, tuple[tuple[Scenario, ...], Severity]] = {}
    for rule in rules:
        for target in rule.target:
            sources, severity = out.get(target, ((), Severity.P0))
            out[target] = (
                (*sources, *(s for s in rule.source if s not in sources)),
                max(severity, rule.max_severity),
            )
    return out
