"""Replays: re-run an incident's handler on demand, or preview that in dry run first.

`preview` diagnoses and plans with the current rules (PLANTAO_CONFIG + webhook/rules.toml) and
handlers, asks the executor's guards what they would decide for each step without running any,
and sets the result beside the original run (the last `diagnosed` + `step.proposed` entries of
the timeline). `replay` does the same for real: AUTO steps go through the executor, whose ledger
still runs each step at most once per incident. Both are recorded in the timeline.
The api reaches these through the queue (REPLAY_JOBS); the CLI calls them in-process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from core import metrics
from core.errors import TransientError, UnknownIncident
from core.models import Alert, Incident, TimelineEntry
from core.replays import PlannedStep, Preview, Run
from handlers import HANDLERS
from handlers.actions import Advise, HandOver, describe
from handlers.types import Policy, Step
from webhook.classify import Classifier
from worker import policies
from worker.deps import Deps
from worker.ledger import Ledger, State, episode_key
from worker.outcome import Code, Outcome, Status
from worker.slack import render_opened

log = structlog.get_logger()


def _line(step: Step) -> str:
    return f"[{step.policy}] {describe(step.action)}: {step.why}"  # as handle_incident records


def _alert_of(incident: Incident) -> Alert:
    """The incident's alert as far as the store kept it (no description or expression)."""
    return Alert(
        source=incident.source,
        fingerprint=f"incident:{incident.id}",
        name=incident.labels.get("alertname", incident.summary),
        service=incident.service,
        firing=True,
        summary=incident.summary,
        labels=incident.labels,
        link=incident.link,
        signed=not incident.unsigned,
    )


def reclassify(deps: Deps, incident: Incident) -> Incident:
    """The incident as the current rules classify it."""
    found = Classifier.from_config(deps.config).classify(_alert_of(incident))
    return incident.model_copy(
        update={
            "scenario": found.scenario,
            "severity": found.severity,
            "rule": found.rule,
            "why": found.why,
        }
    )


def original_run(incident: Incident, timeline: list[TimelineEntry]) -> Run:
    """The last run on the timeline: the steps proposed after its newest `diagnosed` entry."""
    starts = [i for i, e in enumerate(timeline) if e.event == "diagnosed"]
    steps: list[str] = []
    for entry in timeline[starts[-1] + 1 :] if starts else []:
        if entry.event != "step.proposed":
            break
        steps.append(entry.detail)
    return Run(
        scenario=incident.scenario.value,
        severity=incident.severity.value,
        rule=incident.rule,
        steps=steps,
    )


async def plan(deps: Deps, incident: Incident) -> tuple[object, list[Step]]:
    """Diagnose (bounded by JOB_TIMEOUT_S) and plan the incident under the current policies."""
    handler = HANDLERS[incident.scenario]
    findings = await asyncio.wait_for(
        handler.diagnose(incident, deps.probes), deps.settings.job_timeout_s
    )
    return findings, policies.apply(
        deps.config, incident.scenario, handler.plan(incident, findings)
    )


async def _decide(deps: Deps, incident: Incident, step: Step) -> PlannedStep:
    """What the executor would do with `step` now, without doing it or spending any budget."""
    checks = deps.executor.c
    record = await checks.ledger.get(Ledger.key(incident.id, episode_key(incident, step.action)))
    if record is not None and record.state in (State.DONE, State.FAILED):
        return PlannedStep(line=_line(step), decision="already_" + record.state.value)
    refusal = await checks.refusal(incident, step, None)
    if refusal is not None:
        decision = {Code.NEEDS_APPROVAL: "needs_approval", Code.POLICY_NEVER: "never"}.get(
            refusal.code, "refused"
        )
        return PlannedStep(line=_line(step), decision=decision, reason=refusal.reason)
    if isinstance(step.action, HandOver | Advise):
        return PlannedStep(line=_line(step), decision="recorded")
    if deps.settings.dry_run:
        return PlannedStep(line=_line(step), decision="dry_run", reason="DRY_RUN is on")
    return PlannedStep(line=_line(step), decision="would_run")


async def _incident(deps: Deps, incident_id: str) -> Incident:
    incident = await deps.store.incident(incident_id)
    if incident is None:
        raise UnknownIncident(f"no incident {incident_id}")
    return incident


async def preview(deps: Deps, incident_id: str, job_id: str) -> Preview:
    """What a replay would propose and run now, beside the original run; changes nothing."""
    stored = await _incident(deps, incident_id)
    original = original_run(stored, await deps.store.timeline(incident_id))
    incident = reclassify(deps, stored)
    _, steps = await plan(deps, incident)
    now = Run(
        scenario=incident.scenario.value,
        severity=incident.severity.value,
        rule=incident.rule,
        steps=[_line(s) for s in steps],
    )
    before = set(original.steps)
    await metrics.count(deps.store.redis, "plantao_replays_total", {"kind": "preview"})
    return Preview(
        incident_id=incident_id,
        job_id=job_id,
        original=original,
        now=now,
        planned=[await _decide(deps, incident, s) for s in steps],
        added=[line for line in now.steps if line not in before],
        removed=[line for line in original.steps if line not in set(now.steps)],
        unchanged=[line for line in now.steps if line in before],
        reclassified=(original.scenario, original.severity, original.rule)
        != (now.scenario, now.severity, now.rule),
    )


async def replay(deps: Deps, incident_id: str, by: str, job_id: str) -> list[Outcome]:
    """Re-run the handler for real on the stored incident (re-classified by the current rules)."""
    store = deps.store
    incident = reclassify(deps, await _incident(deps, incident_id))
    structlog.contextvars.bind_contextvars(incident=incident.id, scenario=incident.scenario.value)
    await store.record(incident.id, by, "replay.started", f"job {job_id}, {incident.scenario}")
    findings, steps = await plan(deps, incident)
    await store.record(incident.id, "plantao", "diagnosed", repr(findings)[:2000])
    for step in steps:
        await store.record(incident.id, "plantao", "step.proposed", _line(step))
    outcomes = []
    for step in steps:
        if step.policy is Policy.AUTO:
            outcomes.append(await deps.executor.run(incident, step))
    try:
        await deps.slack.post(render_opened(incident, findings, steps, outcomes))
    except TransientError as exc:  # the timeline has it all; a replay is not retried for Slack
        log.warning("replay.notify_failed", error=str(exc))
    done = ", ".join(f"{o.action}: {o.status}" for o in outcomes) or "no automatic steps"
    await store.record(incident.id, by, "replay.finished", done)
    await metrics.count(store.redis, "plantao_replays_total", {"kind": "run"})
    return outcomes


async def preview_replay(ctx: dict[str, Any], incident_id: str, by: str, job_id: str) -> str:
    """Job: the preview as JSON (core.replays.Preview), read back by the api."""
    result = await preview(Deps.from_ctx(ctx), incident_id, job_id)
    return result.model_dump_json()


async def replay_incident(ctx: dict[str, Any], incident_id: str, by: str, job_id: str) -> str:
    """Job: a replay asked for by `by`; one line per automatic step's outcome."""
    outcomes = await replay(Deps.from_ctx(ctx), incident_id, by, job_id)
    done = sum(1 for o in outcomes if o.status is Status.DONE)
    return f"replayed: {done} done, {len(outcomes) - done} not run"


REPLAY_JOBS = (preview_replay, replay_incident)
