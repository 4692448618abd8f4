"""The jobs behind Slack's buttons (webhook/slack.py enqueues them by name with a Click).

Every click goes to the incident's timeline with the Slack user, and to its thread; a click that
cannot be honoured (a replayed or expired approval, someone not allowed, an invalid transition)
is answered to that person alone, with the reason (Slack's response_url). Approved steps run
through the one executor, `Executor.run(incident, step, approved_by=...)`.

The operator API and CLI decide on a step themselves (core/step_decisions.py) and enqueue
the same approve / reject jobs with the Click's `via` set: those only carry the decision out
(run the step once, tell the thread, update the message).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from arq import Retry
from pydantic import ValidationError

from core.approvals import Approval, Click, Verdict
from core.errors import InvalidTransition, NotifyFailed, StoreUnavailable
from core.models import Incident, IncidentState
from core.silences import Matcher, Silence, Silences
from worker.deps import Deps
from worker.duties.escalation import CannotEscalate, escalate_by_hand
from worker.outcome import Status
from worker.slack_refusals import Refusal
from worker.slack_render import render_reply
from worker.step_codec import decode_step

log = structlog.get_logger()
Job = Callable[..., Awaitable[str]]
Act = Callable[[Deps, Incident, Click], Awaitable["str | Said"]]
SILENCE_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class Said:
    """What a click did, for the timeline and the thread, with whom to mention there."""

    line: str
    mention: str = ""


async def _tell(deps: Deps, click: Click, said: Refusal) -> None:
    if deps.room is not None and click.response_url:
        await deps.room.ephemeral(click.response_url, said.text(deps.room.locale))


async def _thread(
    deps: Deps, incident: Incident, click: Click, line: str, mention: str = ""
) -> None:
    """The click in the thread (once per click), and the top message re-rendered."""
    if deps.room is None:
        return
    fresh = await deps.store.incident(incident.id) or incident
    kind = f"click:{click.action}:{click.user}:{click.action_ts}"
    message = render_reply(line, [], deps.room.locale, deps.room.link(incident.id), mention)
    await deps.room.reply(fresh, kind, message)
    await deps.room.refresh(fresh)


async def _transition(deps: Deps, incident: Incident, click: Click, to: IncidentState) -> str:
    try:
        await deps.store.transition(incident.id, to, click.actor, "from Slack")
    except InvalidTransition as exc:
        now = await deps.store.incident(incident.id) or incident
        raise Refusal("transition", state=now.state.value, target=to.value) from exc
    return f"{click.actor}: {to}"


async def acknowledge(deps: Deps, incident: Incident, click: Click) -> str:
    return await _transition(deps, incident, click, IncidentState.ACKNOWLEDGED)


async def resolve(deps: Deps, incident: Incident, click: Click) -> str:
    return await _transition(deps, incident, click, IncidentState.RESOLVED)


async def escalate(deps: Deps, incident: Incident, click: Click) -> Said:
    try:
        raised = await escalate_by_hand(deps, incident, click.actor)
    except CannotEscalate as exc:
        if exc.state == "top":
            raise Refusal("escalate_top") from exc
        raise Refusal("escalate_closed", state=exc.state) from exc
    return Said(f"{click.actor} escalated the incident: {raised.line}", raised.mention)


async def silence(deps: Deps, incident: Incident, click: Click) -> str:
    now = datetime.now(UTC)
    made = Silence(
        matchers=[
            Matcher(field="service", value=incident.service),
            Matcher(field="scenario", value=incident.scenario.value),
        ],
        starts_at=now,
        ends_at=now + SILENCE_FOR,
        author=click.actor,
        comment=f"Silence 1 h pressed in Slack on incident {incident.id}",
    )
    await Silences(deps.store.redis).add(made)
    await deps.store.silence(incident.id, made.id, click.actor, made.comment)
    return f"{click.actor} silenced {incident.service}/{incident.scenario} for 1 h ({made.id})"


async def _may_approve(deps: Deps, incident: Incident, click: Click) -> None:
    allowed = deps.config.slack.approvers.get(incident.severity, [])
    if not allowed or click.user in allowed:
        return
    for group in (g for g in allowed if g.startswith("S")):
        if deps.room is None:
            break
        try:
            if click.user in await deps.room.api.group_members(group):
                return
        except NotifyFailed as exc:
            log.warning("slack.group_lookup_failed", group=group, error=str(exc))
    raise Refusal("not_allowed", severity=incident.severity.value)


async def _run_approved(deps: Deps, incident: Incident, click: Click, found: Approval) -> str:
    step = decode_step(found.step)
    outcome = await deps.executor.run(incident, step, approved_by=found.by or click.actor)
    if outcome.status is Status.RETRY:  # the approval stands; the job runs it again later
        raise Retry(defer=max(1.0, outcome.retry_after_s or 1.0))
    line = outcome.line()
    if deps.room is not None:
        await deps.room.approvals.settle(incident.id, click.step, line)
        await deps.room.ran(incident, line)
    return f"approved by {found.by}: {line}"


async def approve(deps: Deps, incident: Incident, click: Click) -> str:
    if deps.room is None:
        raise Refusal("no_web_api")
    approvals = deps.room.approvals
    found = await approvals.get(incident.id, click.step)
    if found is not None and found.episode != incident.reopened:
        raise Refusal("earlier_opening")
    if click.via != "slack":  # decided at the operator API or CLI (core/step_decisions.py)
        return await _decided(deps, incident, click, found)
    ran_before = found is not None and found.state == "approved" and not found.result
    if found is not None and ran_before and click.user in found.approvers:
        return await _run_approved(deps, incident, click, found)
    await _may_approve(deps, incident, click)
    decision = await approvals.decide(incident.id, click.step, click.user, approve=True)
    match decision.verdict:
        case Verdict.APPROVED:
            found = await approvals.get(incident.id, click.step)
            if found is None:
                raise Refusal("vanished")
            return await _run_approved(deps, incident, click, found)
        case Verdict.WAITING:
            await _tell(deps, click, Refusal("waiting"))
            return _waiting(click)
        case _:
            raise _refusal(decision.verdict, decision.detail)


def _waiting(click: Click) -> str:
    return f"{click.actor} approved {click.step}: a second approver is needed"


async def _decided(deps: Deps, incident: Incident, click: Click, found: Approval | None) -> str:
    """An operator's approval, taken already: run the step (once), or say it waits."""
    if found is None or click.user not in found.approvers:
        raise Refusal("unknown")
    if found.state == "pending":
        return _waiting(click)
    if found.state == "approved" and not found.result:
        return await _run_approved(deps, incident, click, found)
    raise _refusal(Verdict.USED, f"{found.state} by {found.by}")


async def reject(deps: Deps, incident: Incident, click: Click) -> str:
    if deps.room is None:
        raise Refusal("no_web_api")
    found = await deps.room.approvals.get(incident.id, click.step)
    if found is not None and found.episode != incident.reopened:
        raise Refusal("earlier_opening")
    if click.via == "slack":
        decided = await deps.room.approvals.decide(
            incident.id, click.step, click.user, approve=False
        )
        if decided.verdict is not Verdict.REJECTED:
            raise _refusal(decided.verdict, decided.detail)
    elif found is None or (found.state, found.by) != ("rejected", click.user):
        raise Refusal("unknown")  # the operator API or CLI rejected it already: say so here
    await deps.room.approvals.settle(incident.id, click.step, f"rejected by {click.actor}")
    return f"{click.actor} rejected {click.step}: it will not run"


def _refusal(verdict: Verdict, detail: str) -> Refusal:
    if verdict in (Verdict.UNKNOWN, Verdict.EXPIRED, Verdict.SAME_USER):
        return Refusal(verdict.value)
    if verdict is Verdict.USED:  # detail: "<state> by <who>" (core/approvals.py _DECIDE)
        state, _, by = detail.partition(" by ")
        return Refusal("used", detail=detail, decision=state, by=by)
    return Refusal("other", detail=f"{verdict} {detail}".strip())


def _job(name: str, act: Act) -> Job:
    async def run(ctx: dict[str, Any], raw: str) -> str:
        deps = Deps.from_ctx(ctx)
        try:
            click = Click.model_validate_json(raw)
        except ValidationError:
            log.error("slack.bad_click", job=name)
            return "bad click"
        structlog.contextvars.bind_contextvars(incident=click.incident, click=click.action)
        try:
            incident = await deps.store.incident(click.incident)
            if incident is None:
                await _tell(deps, click, Refusal("no_incident", incident=click.incident))
                return "missing"
            step = f" {click.step}" if click.step else ""
            event = f"{click.via}.{click.action}"
            await deps.store.record(incident.id, click.actor, event, step.strip())
            try:
                said = await act(deps, incident, click)
            except Refusal as exc:
                await deps.store.record(incident.id, click.actor, f"{click.via}.refused", str(exc))
                await _tell(deps, click, exc)
                return f"refused: {exc}"
            said = Said(said) if isinstance(said, str) else said
            await _thread(deps, incident, click, said.line, said.mention)
        except StoreUnavailable as exc:
            raise Retry(defer=1.0) from exc
        return said.line

    run.__name__ = run.__qualname__ = name  # ARQ registers a job under its function's name
    return run


slack_acknowledge = _job("slack_acknowledge", acknowledge)
slack_approve = _job("slack_approve", approve)
slack_reject = _job("slack_reject", reject)
slack_escalate = _job("slack_escalate", escalate)
slack_resolve = _job("slack_resolve", resolve)
slack_silence = _job("slack_silence", silence)

SLACK_JOBS: tuple[Job, ...] = (
    slack_acknowledge,
    slack_approve,
    slack_reject,
    slack_escalate,
    slack_resolve,
    slack_silence,
)
