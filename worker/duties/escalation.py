"""Escalation (runbook 004 "Escalation Matrix"): an incident nobody acknowledges reaches the
Escalation Engineer at 2x its severity's response SLA and the Incident Commander at 4x (P3 goes
to the backlog at 2x). Acknowledging, resolving or silencing it stops the escalation.

Redis: the incident hash's `escalation` field (0, 1, 2) is the level reached;
`plantao:escalated:{id}:{level}` names who reached a level: the timer that claimed it (it alone
posts it), or `hand` (a responder's Escalate: no timer posts it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.duty_config import EscalationConfig
from core.models import Incident, IncidentState, Severity
from core.store import P, Store, redis_errors
from core.timers import Timer
from worker.deps import Deps
from worker.duties.context import Duty, DutyContext
from worker.slack import Message, render_notice, title

JOB = "escalate_incident"
CLAIM_TTL_S = 90 * 24 * 3600
ROLE_NAMES = {
    "escalation_engineer": "the Escalation Engineer",
    "incident_commander": "the Incident Commander",
    "backlog": "the backlog",
}

# Raise an incident's escalation level, each level once: the one Lua script for the scheduler's
# timers and a responder's Escalate button, so the two cannot both page the same level.
# Each level has a claim key naming who reached it: a timer's id, or 'hand'. Exactly one of the
# timers of a level (one per severity it had) posts it, and a re-run of that timer's job after a
# crash posts what the crash left unposted; a timer pages only while nobody acknowledged, and
# never a level reached by hand. A timer whose level is below one a later timer reached first
# (their jobs ran out of order, e.g. both due after downtime) still posts its own level.
# By hand ('next') raises one level above the current one while the incident is not resolved.
# KEYS: the incident hash, then the claim key of each level (1..top). ARGV: the level or
# 'next', the timer's id ('' by hand), the claim TTL (s). Returns the level claimed now (digits),
# or why not: 'again' (claimed by this timer before), 'claimed' (by another timer), 'reached'
# (by hand), 'top', or the incident's state that stops it.
_ESCALATE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
local level = tonumber(redis.call('HGET', KEYS[1], 'escalation') or '0')
local timer, target = ARGV[2], level + 1
if ARGV[1] ~= 'next' then target = tonumber(ARGV[1]) end
if target > #KEYS - 1 then return 'top' end
local claim = KEYS[target + 1]
if timer ~= '' then
  local holder = redis.call('GET', claim)
  if holder == timer then return 'again' end
  if holder == 'hand' then return 'reached' end
  if holder then return 'claimed' end
  if state ~= 'triggered' then return state end
elseif state == 'resolved' then
  return state
end
redis.call('SET', claim, timer ~= '' and timer or 'hand', 'EX', ARGV[3])
if target > level then redis.call('HSET', KEYS[1], 'escalation', target) end
return tostring(target)
"""
MANUAL_ROLES = {1: "escalation_engineer", 2: "incident_commander"}
TOP = max(MANUAL_ROLES)


async def _escalate(store: Store, incident_id: str, level: str, timer: Timer | None = None) -> str:
    """Run _ESCALATE: `level` is a number (a timer's) or 'next' (by hand)."""
    claims = [f"{P}escalated:{incident_id}:{n}" for n in range(1, TOP + 1)]
    args = [level, timer.id if timer else "", str(CLAIM_TTL_S)]
    async with redis_errors():
        script = store.redis.register_script(_ESCALATE)
        return str((await script(keys=[f"{P}incident:{incident_id}", *claims], args=args)).decode())


class CannotEscalate(Exception):
    """`state`: "top" (the Incident Commander has it already) or the incident's state."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


@dataclass(frozen=True)
class Level:
    level: int  # Incident.escalation once reached: 1, 2
    after: timedelta  # since the incident (re)opened
    multiple: float  # of the response SLA
    role: str  # a key of ROLE_NAMES


def levels(policy: EscalationConfig, severity: Severity) -> list[Level]:
    sla = timedelta(minutes=policy.respond_minutes[severity])
    first, second = policy.engineer_after, policy.commander_after
    if severity in policy.backlog:
        return [Level(1, sla * first, first, "backlog")]
    return [
        Level(1, sla * first, first, "escalation_engineer"),
        Level(2, sla * second, second, "incident_commander"),
    ]


def mentions(ids: list[str]) -> str:
    """Slack mention markup: <@U…> for a user, <!subteam^S…> for a user group."""
    return " ".join(f"<!subteam^{i}>" if i.startswith("S") else f"<@{i}>" for i in ids)


def role_ids(policy: EscalationConfig, role: str) -> list[str]:
    return {
        "escalation_engineer": policy.escalation_engineer,
        "incident_commander": policy.incident_commander,
    }.get(role, [])


def timer_id(incident: Incident, level: int) -> str:
    # severity and reopening are part of the id: a raised severity or a reopened incident
    # gets timers of its own; the level already reached keeps older ones from re-escalating
    return f"escalate:{incident.id}:{incident.reopened}:{incident.severity}:{level}"


async def _opened_at(store: Store, incident: Incident) -> datetime:
    """When the incident last (re)opened: the clock the SLA counts from."""
    if incident.reopened:
        reopened = [
            e.at for e in await store.timeline(incident.id) if e.event == "incident.reopened"
        ]
        if reopened:
            return reopened[-1]
    return incident.first_seen


async def plan(ctx: DutyContext, now: datetime) -> int:
    """Schedule the escalation timers of every open, unacknowledged, unsilenced incident."""
    policy, added = ctx.config.escalation, 0
    for incident in await ctx.store.incidents(await ctx.store.open_incident_ids()):
        if incident.state is not IncidentState.TRIGGERED or incident.silenced_by:
            continue  # acknowledged or further along, or silenced: nobody is paged
        opened = await _opened_at(ctx.store, incident)
        for level in levels(policy, incident.severity):
            if incident.escalation >= level.level:
                continue
            args = (incident.id, str(level.level))
            timer = Timer(timer_id(incident, level.level), JOB, opened + level.after, args)
            added += await ctx.timers.schedule(timer)
    return added


def render(incident: Incident, level: Level, policy: EscalationConfig, late: str) -> Message:
    ids = role_ids(policy, level.role)
    sla = policy.respond_minutes[incident.severity]
    head = f"{title(incident)} — escalated to {ROLE_NAMES[level.role]}"
    if ids:
        head = f"{mentions(ids)} {head}"
    why = (
        f"incident {incident.id} is not acknowledged {sla * level.multiple:g} min after it "
        f"opened: {level.multiple:g}x the {incident.severity} response SLA of {sla:g} min "
        "(runbook 004 escalation matrix)"
    )
    lines = [why, "acknowledge it to stop the escalation"]
    if level.role != "backlog" and not ids:
        lines.append(f"nobody to mention: set [escalation] {level.role} in PLANTAO_CONFIG")
    return render_notice(head, [("Escalation", [*lines, *([late] if late else [])])])


async def fire(deps: Deps, timer: Timer) -> str:
    """The escalation job: raise the level once, post once, unless it was acknowledged."""
    incident_id, number = timer.args[0], int(timer.args[1])
    incident = await deps.store.incident(incident_id)
    if incident is None:
        return "skipped: no such incident"
    kind = f"escalation:{number}"
    if await deps.store.was_notified(incident.id, kind):
        return "skipped: already notified"
    if incident.silenced_by:
        return f"skipped: silenced by {incident.silenced_by}"
    policy = deps.config.escalation
    level = next((lv for lv in levels(policy, incident.severity) if lv.level == number), None)
    if level is None:
        return f"skipped: the policy has no level {number} for {incident.severity}"
    result = await _escalate(deps.store, incident.id, str(number), timer)
    if result == "claimed":
        return f"skipped: another timer escalates level {number}"
    if result == "reached":
        return f"skipped: escalated to level {number} by hand already"
    if result != "again" and not result.isdigit():
        return f"skipped: incident is {result}"
    if result.isdigit():
        detail = f"level {number}: {ROLE_NAMES[level.role]} ({level.multiple:g}x SLA)"
        await deps.store.record(incident.id, "scheduler", "incident.escalated", detail)
    await deps.tell(incident, kind, render(incident, level, policy, timer.late_note()))
    await deps.store.mark_notified(incident.id, kind)
    await deps.store.record(incident.id, "plantao", "notified", f"{kind} posted to Slack")
    return f"escalated to {level.role}"


DUTY = Duty("escalation", plan, timedelta(0))


@dataclass(frozen=True)
class Raised:
    level: int
    line: str  # for the timeline and the thread
    mention: str  # Slack mentions of the role this level pages ("" when nobody is configured)


async def escalate_by_hand(deps: Deps, incident: Incident, actor: str) -> Raised:
    """Raise the incident one level (Escalation Engineer, then Incident Commander) at once and
    record it. The scheduler's timers do not page a level reached this way again; two presses
    at once raise two levels, each mentioning its own role. CannotEscalate says why not."""
    result = await _escalate(deps.store, incident.id, "next")
    if not result.isdigit():
        raise CannotEscalate(result)
    role = MANUAL_ROLES[int(result)]
    line = f"level {result}: {ROLE_NAMES[role]}, by hand"
    await deps.store.record(incident.id, actor, "incident.escalated", line)
    return Raised(int(result), line, mentions(role_ids(deps.config.escalation, role)))
