"""Post-mortem drafts (runbook 004 "Post-Incident Review"): a resolved P0/P1 gets, within 24 h,
a Markdown draft in the runbook's template filled from its timeline, served by the operator API
(`GET /api/incidents/{id}/postmortem`) and linked in Slack."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from core.models import Incident, IncidentState, Severity, TimelineEntry
from core.postmortems import load_draft, save_draft
from core.timers import Timer
from worker.deps import Deps
from worker.duties.context import Duty, DutyContext
from worker.slack import render_notice, title

JOB = "draft_postmortem"
REQUIRED = (Severity.P0, Severity.P1)  # 004: mandatory for every P0 and P1
HORIZON = timedelta(days=7)  # incidents resolved longer ago get no draft (first start)
RECENT = 200  # the newest incidents looked at
TIMELINE_LINES = 100
QUIET_EVENTS = {"job.enqueued", "job.reenqueued", "job.retry", "notified", "diagnosed"}
STEP = re.compile(r"^\[(?P<tag>[^\]]+)\] (?P<action>.*?): ")
TODO = "[a preencher]"


async def plan(ctx: DutyContext, now: datetime) -> int:
    """Schedule a draft for each recently resolved P0/P1, once its flapping window has passed."""
    after = timedelta(seconds=ctx.config.scheduler.postmortem_after_s)
    added = 0
    for incident in await ctx.store.incidents(await ctx.store.incident_ids(RECENT)):
        resolved = incident.resolved_at
        if incident.state is not IncidentState.RESOLVED or resolved is None:
            continue
        if incident.severity not in REQUIRED or now - resolved > HORIZON:
            continue
        args = (incident.id, str(incident.reopened))
        timer_id = f"postmortem:{incident.id}:{incident.reopened}"
        added += await ctx.timers.schedule(Timer(timer_id, JOB, resolved + after, args))
    return added


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _timeline(entries: list[TimelineEntry]) -> list[str]:
    lines = [
        f"- [{_when(e.at)}] {e.event} ({e.actor}){': ' + e.detail if e.detail else ''}"
        for e in entries
        if e.event not in QUIET_EVENTS
    ]
    if len(lines) > TIMELINE_LINES:
        dropped = len(lines) - TIMELINE_LINES
        lines = [
            *lines[: TIMELINE_LINES // 2],
            f"- … {dropped} entries left out …",
            *lines[-TIMELINE_LINES // 2 :],
        ]
    return lines


def _open_items(entries: list[TimelineEntry], severity: Severity) -> list[str]:
    """Proposed steps that needed a human (approve / never) and were never done."""
    done = {m["action"] for e in entries if e.event == "step.done" and (m := STEP.match(e.detail))}
    items = []
    for entry in entries:
        found = STEP.match(entry.detail) if entry.event == "step.proposed" else None
        if found and found["tag"] in ("approve", "never") and found["action"] not in done:
            items.append(
                f"- [ ] {found['action']} (proposed, {found['tag']}, not done) - Owner: {TODO} "
                f"- Due: {TODO} - Priority: {severity}"
            )
    return items


def _section(heading: str, lines: list[str]) -> list[str]:
    return [f"## {heading}", "", *lines, ""]


def _went_wrong(incident: Incident, actions: list[str], respond_minutes: float) -> list[str]:
    """What the timeline shows went wrong: a late acknowledgement, escalation, failed steps."""
    wrong = []
    acked = incident.acknowledged_at
    if acked is None or (acked - incident.first_seen) > timedelta(minutes=respond_minutes):
        sla = f"{incident.severity} response SLA of {respond_minutes:g} min"
        wrong.append(f"- not acknowledged within the {sla} (runbook 004)")
    if incident.escalation:
        wrong.append(f"- escalated to level {incident.escalation} (runbook 004 escalation path)")
    failed = [line for line in actions if "step.failed" in line or "step.refused" in line]
    return wrong + [f"- {line[2:]}" for line in failed]


def render(incident: Incident, entries: list[TimelineEntry], respond_minutes: float) -> str:
    """The runbook 004 template, filled with what the timeline knows; the rest marked TODO."""
    end = incident.resolved_at or incident.last_seen
    minutes = int((end - incident.first_seen).total_seconds() // 60)
    taken = [e for e in entries if e.event.startswith("step.") and e.event != "step.proposed"]
    actions = _timeline(taken)
    diagnosis = [f"\nplantão's diagnosis: {e.detail}" for e in entries if e.event == "diagnosed"]
    never_acked = [] if incident.acknowledged_at else ["- acknowledged: never (none recorded)"]
    sources = ", ".join(s.value for s in incident.sources or [incident.source])
    wrong = _went_wrong(incident, actions, respond_minutes)
    head = [
        f"# Post-Mortem: {incident.scenario} on {incident.service} — {incident.summary}",
        "",
        f"**Data:** {incident.first_seen:%Y-%m-%d}",
        f"**Duração:** {minutes // 60} h {minutes % 60} min",
        f"**Severity:** {incident.severity}",
        f"**Incident Commander:** {TODO}",
        "",
        f"> Draft by plantão from incident {incident.id}'s timeline. Blameless (runbook 004): "
        f"processes, not people. Fill in every {TODO}.",
        "",
    ]
    timeline = [
        f"- [{_when(incident.first_seen)}] Incident detected: {incident.why}",
        *_timeline(entries),
        *never_acked,
        f"- [{_when(end)}] Incident resolved",
    ]
    impact = [
        f"- Users affected: {TODO}",
        f"- Downtime: {minutes} minutes (first alert to resolution; check what users saw)",
        f"- Data loss: {TODO}",
        f"- Alerts: {incident.alert_count} ({incident.duplicates} repeated) from {sources}",
    ]
    items = [
        *_open_items(entries, incident.severity),
        f"- [ ] {TODO} - Owner: {TODO} - Due: {TODO} - Priority: P0/P1/P2",
    ]
    return "\n".join(
        [
            *head,
            *_section("Timeline", timeline),
            *_section("Impact", impact),
            *_section("Root Cause", [TODO, *diagnosis[-1:]]),
            *_section("Resolution", actions or ["- no automatic step was taken"]),
            *_section("What Went Well", [f"- {TODO}"]),
            *_section("What Went Wrong", wrong or [f"- {TODO}"]),
            *_section("Action Items", items),
        ]
    )


async def fire(deps: Deps, timer: Timer) -> str:
    incident_id, reopened = timer.args
    incident = await deps.store.incident(incident_id)
    if incident is None:
        return "skipped: no such incident"
    if incident.state is not IncidentState.RESOLVED or str(incident.reopened) != reopened:
        return "skipped: the incident reopened"
    kind = f"postmortem:{reopened}"
    if await deps.store.was_notified(incident.id, kind) and await load_draft(
        deps.store.redis, incident.id
    ):
        return "skipped: already drafted"
    respond = deps.config.escalation.respond_minutes[incident.severity]
    markdown = render(incident, await deps.store.timeline(incident.id), respond)
    await save_draft(deps.store.redis, incident.id, markdown)
    path = f"/api/incidents/{incident.id}/postmortem"
    link = (deps.config.scheduler.public_url or "").rstrip("/") + path
    await deps.store.record(incident.id, "plantao", "postmortem.drafted", link)
    lines = [f"draft: {link}", "runbook 004: review meeting within 48 h, action items in 7 days"]
    head = f"Post-mortem draft ready: {title(incident)}"
    await deps.tell(incident, kind, render_notice(head, [("Post-Incident Review", lines)]))
    await deps.store.mark_notified(incident.id, kind)
    return "drafted"


DUTY = Duty("postmortems", plan, timedelta(minutes=1))
