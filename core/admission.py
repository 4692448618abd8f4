"""How an alert is admitted to the store, the same for every source: its incident group, the
silence or maintenance window that covers it, and the open incidents that inhibit it. The
webhook intake (webhook/intake.py) and plantão's own alerts (worker/duties/alerts.py) both build
their `Arrival`s here, so a duty's alert is grouped, silenced and inhibited as a webhook's is."""

from __future__ import annotations

from core.config import Inhibit, PlantaoConfig
from core.models import Alert, Classification, Scenario, Severity
from core.silences import Silence, silencer
from core.store import Arrival, group_key

# The shipped inhibition (Alertmanager's idea, across sources): while a P0 database_down or
# api_down incident is open on a service, its latency, error-rate and dependency alerts are
# symptoms: they attach to that incident's timeline instead of opening incidents of their own.
# An operator's [[inhibit]] list in PLANTAO_CONFIG replaces this one (`inhibit = []` turns it off).
DEFAULT_INHIBIT: tuple[Inhibit, ...] = (
    Inhibit(
        source=[Scenario.DATABASE_DOWN, Scenario.API_DOWN],
        target=[Scenario.API_HIGH_LATENCY, Scenario.ERROR_RATE_SPIKE, Scenario.DEPENDENCY_DOWN],
        max_severity=Severity.P0,
    ),
)

# target scenario -> (the scenarios whose open incidents inhibit it, the least severity that does)
Inhibitors = dict[Scenario, tuple[tuple[Scenario, ...], Severity]]


def inhibitors(config: PlantaoConfig) -> Inhibitors:
    """The inhibition in force: PLANTAO_CONFIG's `[[inhibit]]` list, else the shipped one."""
    rules = config.inhibit if config.inhibit is not None else DEFAULT_INHIBIT
    out: Inhibitors = {}
    for rule in rules:
        for target in rule.target:
            sources, severity = out.get(target, ((), Severity.P0))
            out[target] = (
                (*sources, *(s for s in rule.source if s not in sources)),
                max(severity, rule.max_severity),
            )
    return out


def admit(
    config: PlantaoConfig,
    inhibiting: Inhibitors,
    silences: list[Silence],
    alert: Alert,
    found: Classification,
) -> Arrival:
    """A classified alert as the store takes it (core/ingest.lua applies the inhibition, since
    only there is it atomic with the state of the inhibiting incident)."""
    sources, max_severity = inhibiting.get(found.scenario, ((), Severity.P0))
    windows = config.maintenance
    return Arrival(
        alert=alert,
        found=found,
        group=group_key(config.incidents.group_by, alert, found),
        # run per alert: with no silence or window (the usual case) skip its clock reading
        silenced_by=silencer(silences, windows, alert, found) if silences or windows else "",
        inhibitors=sources,
        inhibit_max=max_severity,
    )
