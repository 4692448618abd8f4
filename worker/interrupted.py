"""Steps an earlier run of an incident's job left in flight: its worker died between sending
an action and recording what it did (a SIGKILL mid-rollback). When the re-run's diagnosis no
longer plans that step (the rollback made the service healthy), the step is settled here with
the platform and reported with the re-run's outcomes, so the record does not stay in flight and
the incident's message says what was done. A step the re-run plans again is settled by the
executor when it runs it (Executor.settle)."""

from __future__ import annotations

from collections.abc import Sequence

from core.models import Incident
from handlers.types import Step
from worker.checks import kind_of, target_of
from worker.execute import Executor
from worker.ledger import Record, State, episode_key
from worker.outcome import Code, Outcome, Status, StepRef
from worker.step_codec import decode_step

NOT_RESUMED = "interrupted before it took effect, and the diagnosis no longer proposes it: not run"


async def settle_interrupted(
    executor: Executor, incident: Incident, planned: Sequence[Step]
) -> list[Outcome]:
    """Settle this opening's steps left in flight that `planned` does not hold; their outcomes
    (a RETRY while a live attempt may still hold one, or the platform cannot be asked)."""
    again = {episode_key(incident, step.action) for step in planned}
    outcomes = []
    for record in await executor.c.ledger.unsettled(incident.id):
        step = _step(record)
        if record.state is not State.IN_FLIGHT or step is None:
            continue  # an `intent` had no side effect: taken over if a later run plans it
        s = StepRef(incident, step, episode_key(incident, step.action))
        if s.key != record.key or s.skey in again:
            continue  # an earlier opening's record, or one this run settles itself
        outcome = await executor.settle(s, record) or await _not_resumed(executor, s, record)
        outcomes.append(await executor.finish(s, outcome, "plantao"))
    return outcomes


def _step(record: Record) -> Step | None:
    try:
        return decode_step(record.step) if record.step else None
    except (ValueError, KeyError):
        return None  # written by another version: left as it is


async def _not_resumed(executor: Executor, s: StepRef, record: Record) -> Outcome:
    """It did not happen and its attempt is dead: free the step and its budget."""
    if await executor.c.ledger.release(record.key, record.token, State.IN_FLIGHT):
        kind = kind_of(s.step.action)
        if kind is not None:
            await executor.c.guards.refund(kind, target_of(s.step.action), record.token)
    return s.out(Status.REFUSED, Code.INTERRUPTED, NOT_RESUMED)
