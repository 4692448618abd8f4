"""Alerts plantão raises itself (checklist, rollouts, post-deploy checks), through the normal
intake: classified explicitly, grouped and silenced as any alert, then `Store.ingest`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.config import PlantaoConfig
from core.models import Alert, Classification, Scenario, Severity, Source
from core.silences import Silences, silencer
from core.store import Arrival, IngestResult, Store, group_key


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
    """Ingest the duty's alerts as one delivery: silences and maintenance windows apply."""
    silences = await Silences(store.redis).active() if raised else []
    arrivals = []
    for item in raised:
        alert, found = item.alert(), item.classification()
        arrivals.append(
            Arrival(
                alert=alert,
                found=found,
                group=group_key(config.incidents.group_by, alert, found),
                silenced_by=silencer(silences, config.maintenance, alert, found),
            )
        )
    return await store.ingest(arrivals)
