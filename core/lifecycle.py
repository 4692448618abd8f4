"""The incident state machine: which transitions a responder (or plantão) may make.

    triggered ──ack──▶ acknowledged ──▶ mitigating ──▶ monitoring ──▶ resolved
        └──────────────────┴─────────────────┴──────────────┴──resolve──▶ resolved
    resolved ──(the same alert fires again within the flapping window)──▶ triggered

Alert-driven changes (open, attach, resolve when every alert resolved, reopen) happen inside the
atomic intake (core/ingest.lua); the transitions below are the ones people and jobs ask for.
An invalid transition is refused with a reason and changes nothing.
"""

from __future__ import annotations

from core.models import IncidentState as S

ALLOWED: dict[S, frozenset[S]] = {
    S.ACKNOWLEDGED: frozenset({S.TRIGGERED}),
    S.MITIGATING: frozenset({S.TRIGGERED, S.ACKNOWLEDGED, S.MONITORING}),
    S.MONITORING: frozenset({S.MITIGATING, S.ACKNOWLEDGED, S.TRIGGERED}),
    S.RESOLVED: frozenset({S.TRIGGERED, S.ACKNOWLEDGED, S.MITIGATING, S.MONITORING}),
    S.TRIGGERED: frozenset(),  # only the intake reopens
}


def refusal(current: S, target: S) -> str | None:
    """Why `current -> target` is not allowed, or None when it is."""
    if current in ALLOWED[target]:
        return None
    if current == target:
        return f"the incident is already {current}"
    allowed = ", ".join(sorted(ALLOWED[target])) or "nothing a person can ask for"
    return f"cannot go from {current} to {target}: only from {allowed}"
