"""Alerts plantão raises itself (checklist, rollouts, post-deploy checks), through the normal
intake: classified explicitly, then grouped, silenced and inhibited as any alert
(core/admission.py, the webhook intake's own rules), then `Store.ingest`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.admission import admit, inhibitors
from core.config import PlantaoConfig
from core.models import Alert, Classification, Scenario, Severity, Source
from core.silences import Silences
from core.store import IngestResult, Store


@dataclass(frozen=True)
class Raised:
    """One alert of a duty with what it means: the duty names the scenario and severity."""

    duty: str  # e.g. "checklist": the rule is "plantao:checklist"
    key: str  # stable per condition (service + check): the fingerprint is plantao:{duty}:{key}
    service: str
    scenario: Scenario
    severity: Severity
    firing: bool
    summary: str
    why: str  # names the duty and the runbook
    occurrence: str = ""  # a new value makes a new firing of the same condition
    labels: tuple[tuple[str, str], ...] = ()

    def alert(self) -> Alert:
        return Alert(
            source=Source.PLANTAO,
            fingerprint=f"plantao:{self.duty}:{self.key}",
            name=f"plantao_{self.duty}",
            service=self.service,
            firing=self.firing,
            starts_at=self.occurrence,
            summary=self.summary,
            labels={"duty": self.duty, **dict(self.labels)},
        )

    def classification(self) -> Classification:
        return Classification(
            scenario=self.scenario,
            severity=self.severity,
            rule=f"plantao:{self.duty}",
            why=self.why,
        )


async def raise_alerts(
    store: Store, config: PlantaoConfig, raised: Sequence[Raised]
) -> IngestResult:
    """Ingest the duty's alerts as one delivery: silences, maintenance windows and inhibition
    apply as they do to a webhook's alerts."""
    silences = await Silences(store.redis).active() if raised else []
    inhibiting = inhibitors(config)
    arrivals = [
        admit(config, inhibiting, silences, item.alert(), item.classification()) for item in raised
    ]
    return await store.ingest(arrivals, source=Source.PLANTAO.value)  # counted as received
