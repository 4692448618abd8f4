"""data_corruption (P1), runbook 004 S7: stored data is garbled or breaks its constraints."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise, CollectEvidence, RollbackDeploy
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    deep: HttpCheck  # its schema-version check tells whether a migration is involved


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(deep=await probes.endpoint(incident.service, Endpoint.DEEP))


def plan(incident: Incident, found: Findings) -> list[Step]:
    return [
        Step(
            CollectEvidence(incident.service),
            Policy.AUTO,
            "runbook 004 S7: back up the database before anything else touches it",
        ),
        Step(
            RollbackDeploy(incident.service),
            Policy.APPROVE,
            "runbook 004 S7: stop the bleeding: roll back the deploy that corrupts data",
            verify=Endpoint.HEALTH,
        ),
        Step(
            Advise("restore the database from a backup (DISASTER_RECOVERY.md)"),
            Policy.NEVER,
            "runbook 004 S7: a restore is never automatic: a human decides what is lost",
        ),
    ]


HANDLER = Handler(Scenario.DATA_CORRUPTION, diagnose=diagnose, plan=plan)
