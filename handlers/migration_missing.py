"""migration_missing (P1), runbook 001 "Fluxo de Migrations": the code runs ahead of the schema."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Incident, Scenario
from handlers.actions import Advise
from handlers.types import Endpoint, Handler, HttpCheck, Policy, Probes, Step


@dataclass(frozen=True)
class Findings:
    schema: HttpCheck  # /health/schema: fails while the expected migration is missing


async def diagnose(incident: Incident, probes: Probes) -> Findings:
    return Findings(schema=await probes.endpoint(incident.service, Endpoint.SCHEMA))


def plan(incident: Incident, found: Findings) -> list[Step]:
    if found.schema.ok:
        advice = f"/health/schema passes ({found.schema.body[:80]}): the migration looks applied"
        why = "runbook 001 migration checklist: /health/schema reports the expected version"
    else:
        advice = (
            f"apply the missing migration by hand in production, then check /health/schema "
            f"({found.schema.describe()})"
        )
        why = "runbook 001 'Em caso de erro': apply the migration manually"
    return [
        Step(Advise(advice), Policy.AUTO, why),
        Step(
            Advise("apply the migration from plantão"),
            Policy.NEVER,
            "runbook 001 Fluxo de Migrations: migrations are never applied automatically",
        ),
    ]


HANDLER = Handler(Scenario.MIGRATION_MISSING, diagnose=diagnose, plan=plan)
