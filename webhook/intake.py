"""The intake's decisions before the store: classify, group, silence and inhibition inputs."""

from __future__ import annotations

import time
from collections.abc import Sequence

from core.admission import admit, inhibitors
from core.config import PlantaoConfig
from core.models import Alert
from core.silences import Silence, Silences
from core.store import Arrival
from webhook.classify import Classifier

SILENCE_CACHE_S = 1.0  # a silence made through another api process applies within this time


class Intake:
    def __init__(self, config: PlantaoConfig, silences: Silences) -> None:
        self.classifier = Classifier.from_config(config)
        self._config = config
        self._inhibitors = inhibitors(config)
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
        return [
            admit(self._config, self._inhibitors, silences, alert, self.classifier.classify(alert))
            for alert in alerts
        ]
