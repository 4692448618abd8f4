"""Escalation (runbook 004 "Escalation Matrix"): an incident nobody acknowledges reaches the
Escalation Engineer at 2x its severity's response SLA and the Incident Commander at 4x (P3 goes
to the backlog at 2x). Acknowledging, resolving or silencing it stops the escalation.

Redis: the incident hash's `escalation` field (0, 1, 2) is the level reached;
`plantao:escalated:{id}:{level}` names the timer that claimed a level (it alone posts it).
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

# Claim a level for one timer, only while nobody acknowledged the incident: the claim names
# the timer, so exactly one of the timers of a level (one per severity it had) posts it, and a
# re-run of that timer's job after a crash posts what the crash left unposted.
# KEYS: the incident hash, its claim key; ARGV: level, timer id, claim TTL (s).
# Returns 'ok' (claimed now), 'again' (claimed by this timer before), 'claimed' (by another
# timer), 'reached' (escalated that far by hand) or the state that stops it.
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
local holder = redis.call('GET', KEYS[2])
if holder then return holder == ARGV[2] and 'again' or 'claimed' end
if state ~= 'triggered' then return state end
if tonumber(redis.call('HGET', KEYS[1], 'escalation') or '0') >= tonumber(ARGV[1]) then
  return 'reached'  -- a responder escalated this far by hand: nothing to page
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
if tonumber(redis.call('HGET', KEYS[1], 'escalation') or '0') < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'escalation', ARGV[1])
end
return 'ok'
"""


# A responder's Escalate: one level up from where the incident is, while it is open.
# KEYS: the incident hash; ARGV: the highest level. Returns the new level, or an error word.
_RAISE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state == 'resolved' then return 'resolved' end
local level = tonumber(redis.call('HGET', KEYS[1], 'escalation') or '0')
if level >= tonumber(ARGV[1]) then return 'top' end
redis.call('HSET', KEYS[1], 'escalation', level + 1)
return tostring(level + 1)
"""
MANUAL_ROLES = {1: "escalation_engineer", 2: "incident_commander"}


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
    keys = [f"{P}incident:{incident.id}", f"{P}escalated:{incident.id}:{number}"]
    async with redis_errors():
        claim = deps.store.redis.register_script(_CLAIM)
        result = (await claim(keys=keys, args=[number, timer.id, CLAIM_TTL_S])).decode()
    if result == "claimed":
        return f"skipped: another timer escalates level {number}"
    if result == "reached":
        return f"skipped: escalated to level {number} by hand already"
    if result not in ("ok", "again"):
        return f"skipped: incident is {result}"
    if result == "ok":
        detail = f"level {number}: {ROLE_NAMES[level.role]} ({level.multiple:g}x SLA)"
        await deps.store.record(incident.id, "scheduler", "incident.escalated", detail)
    await deps.tell(incident, kind, render(incident, level, policy, timer.late_note()))
    await deps.store.mark_notified(incident.id, kind)
    await deps.store.record(incident.id, "plantao", "notified", f"{kind} posted to Slack")
    return f"escalated to {level.role}"


DUTY = Duty("escalation", plan, timedelta(0))


async def escalate_by_hand(deps: Deps, incident: Incident, actor: str) -> str:
    """Raise the incident one level (Escalation Engineer, then Incident Commander) at once and
    record it; returns the timeline line. The scheduler's timers do not page a level reached
    this way again. CannotEscalate says why it cannot be raised."""
    async with redis_errors():
        raise_ = deps.store.redis.register_script(_RAISE)
        top = str(max(MANUAL_ROLES))
        result = (await raise_(keys=[f"{P}incident:{incident.id}"], args=[top])).decode()
    if not result.isdigit():
        raise CannotEscalate(result)
    role = MANUAL_ROLES[int(result)]
    line = f"level {result}: {ROLE_NAMES[role]}, by hand"
    await deps.store.record(incident.id, actor, "incident.escalated", line)
    return line


async def level_mentions(deps: Deps, incident_id: str) -> str:
    """Slack mentions of whoever the incident's escalation level has reached."""
    incident = await deps.store.incident(incident_id)
    role = MANUAL_ROLES.get(incident.escalation if incident else 0)
    return mentions(role_ids(deps.config.escalation, role)) if role else ""
