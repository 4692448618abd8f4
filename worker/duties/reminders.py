"""Recurring reminders (runbook 002 §6 "Manutenção Preventiva"): the weekly review of metrics
and alerts (Mondays 10:00 America/Sao_Paulo), the quarterly backup-restore test and the
half-yearly IAM audit; `[reminders.<name>]` in PLANTAO_CONFIG adds or changes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.timers import Timer
from worker.deps import Deps
from worker.duties.context import Duty, DutyContext, schedule_next
from worker.duties.escalation import mentions
from worker.slack import render_notice

JOB = "post_reminder"


async def plan(ctx: DutyContext, now: datetime) -> int:
    added = 0
    for name, reminder in ctx.config.reminders.items():
        if reminder.enabled and reminder.cron:
            zone = reminder.timezone or ctx.config.scheduler.timezone
            added += await schedule_next(
                ctx, f"reminder:{name}", reminder.cron, zone, JOB, now, (name,)
            )
    return added


async def fire(deps: Deps, timer: Timer) -> str:
    name = timer.args[0]
    reminder = deps.config.reminders.get(name)
    if reminder is None or not reminder.enabled:
        return f"skipped: reminder {name} is no longer configured"
    head = f"{mentions(reminder.mention)} Reminder: {reminder.text}".strip()
    lines = [
        f"runbook {reminder.runbook}" if reminder.runbook else "",
        f"schedule: {reminder.cron}",
    ]
    if timer.late:
        lines.append(timer.late_note())
    await deps.slack.post(render_notice(head, [("Reminder", [x for x in lines if x])]))
    return "posted"


DUTY = Duty("reminders", plan, timedelta(minutes=1))
