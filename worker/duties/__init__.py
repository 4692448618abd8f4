"""The scheduler's duties, one module each: a `plan` the leader runs (it only schedules timers
or enqueues jobs) and a `fire` its timer's job runs in the worker. The registry is literal."""

from worker.duties import (
    checklist,
    deploys,
    escalation,
    postmortems,
    reconcile,
    reminders,
    rollouts,
    rotations,
)
from worker.duties.context import Duty

DUTIES: tuple[Duty, ...] = (
    escalation.DUTY,
    deploys.DUTY,
    checklist.DUTY,
    rotations.DUTY,
    reminders.DUTY,
    rollouts.DUTY,
    postmortems.DUTY,
    reconcile.DUTY,
)
