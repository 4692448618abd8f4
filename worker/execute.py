"""The one executor (STYLE.md "Handlers propose, the worker disposes"): the only code that acts,
with its side effects in worker/perform.py (called from here alone; a new kind of mitigation is
a case there, its guards here).

`Executor.run(incident, step, approved_by=None)` runs a Step only when its policy allows it,
automation is not paused, deploys are not frozen (deploy actions), the action's budget is not
spent, an unsigned incident is confirmed by Railway (deploy actions), and DRY_RUN is off. Each
step is done at most once per opening of an incident: a record is claimed in Redis
(worker/ledger.py) before any side effect and moved intent -> in_flight -> done | failed; an
attempt found in flight after a crash is settled by asking the platform, never by blindly
running again. After the action the step's `verify` endpoint is re-probed; not verified
escalates. Every decision goes to the timeline.
"""

from __future__ import annotations

import httpx

from core.config import PlantaoConfig
from core.errors import PlatformRefused, PlatformUnavailable
from core.metrics import count_action
from core.models import Incident
from core.settings import Settings
from core.store import Store
from handlers.actions import Advise, HandOver
from handlers.types import Probes, Step
from worker.checks import Checks, NoTarget, Timing, kind_of, target_of
from worker.ledger import Record, State, episode_key, new_token
from worker.outcome import Code, Outcome, Status, StepRef
from worker.perform import perform
from worker.step_codec import encode_step


class _Lost(Exception):
    """Another attempt took the record between our claim and our side effect."""


class Executor:
    def __init__(self, checks: Checks, settings: Settings) -> None:
        self.c = checks
        self.settings = settings

    @classmethod
    def build(
        cls,
        settings: Settings,
        config: PlantaoConfig,
        store: Store,
        probes: Probes,
        http: httpx.AsyncClient,
        timing: Timing | None = None,
    ) -> Executor:
        """The production executor: Railway from RAILWAY_API_TOKEN, Postgres per service DSN."""
        return cls(Checks.build(settings, config, store, probes, http, timing), settings)

    async def run(
        self, incident: Incident, step: Step, *, approved_by: str | None = None
    ) -> Outcome:
        """Decide, maybe act, record, verify; never raises for a decision (StoreUnavailable may)."""
        s = StepRef(incident, step, episode_key(incident, step.action))
        actor = approved_by or "plantao"
        record = await self.c.ledger.get(s.key)
        if record is not None:
            settled = await self.settle(s, record)
            if settled is not None:
                return await self.finish(s, settled, actor)
        refusal = await self.c.refusal(incident, step, approved_by)
        if refusal is not None:
            out = s.out(
                refusal.status, refusal.code, refusal.reason, retry_after_s=refusal.retry_after_s
            )
            return await self.finish(s, out, actor)
        if isinstance(step.action, HandOver | Advise):
            return await self._note(s, record, actor)
        if self.settings.dry_run:
            reason = f"DRY_RUN is on: would have run it ({step.why})"
            return await self.finish(s, s.out(Status.DRY_RUN, Code.DRY_RUN, reason), actor)
        return await self._attempt(s, record, approved_by)

    async def settle(self, s: StepRef, record: Record) -> Outcome | None:
        """An earlier attempt's record: report it, reconcile it, or None to take it over."""
        lease = self.c.timing.lease_s
        if record.state is State.DONE:
            done = f"done earlier: {record.detail}"
            return s.out(Status.REFUSED, Code.ALREADY_DONE, done, verified=record.verified)
        if record.state is State.FAILED:
            return s.out(Status.REFUSED, Code.ALREADY_FAILED, f"failed earlier: {record.detail}")
        wait = max(1.0, lease - record.age_s())
        busy = s.out(
            Status.RETRY, Code.IN_FLIGHT, "another attempt is running it", retry_after_s=wait
        )
        if record.state is State.INTENT:
            return busy if record.age_s() < lease else None
        try:
            happened = await self.c.happened(s.incident, s.step.action, record)
        except PlatformUnavailable as exc:
            return s.out(Status.RETRY, Code.PLATFORM_UNAVAILABLE, str(exc), retry_after_s=wait)
        if happened is True:
            await self.c.ledger.advance(
                s.key,
                record.token,
                State.IN_FLIGHT,
                State.DONE,
                detail=f"reconciled after a crash: the platform shows it ({record.target})",
            )
            verified = await self.c.verify(s)
            reason = "an attempt interrupted in flight had done it: not run again"
            return s.out(Status.DONE, Code.RECONCILED, reason, verified=verified)
        if record.age_s() < lease:
            return busy
        if happened is None:
            detail = "interrupted in flight and the platform cannot tell whether it ran: not re-run"
            await self.c.ledger.advance(
                s.key, record.token, State.IN_FLIGHT, State.FAILED, detail=detail
            )
            return s.out(Status.FAILED, Code.UNKNOWN_STATE, detail + "; check by hand")
        return None  # it did not happen and its attempt is dead: run it (takeover)

    async def _note(self, s: StepRef, record: Record | None, actor: str) -> Outcome:
        """HandOver and Advise change nothing: they are recorded once per incident."""
        token = new_token()
        claimed = await (
            self.c.ledger.claim(s.key, token, "", encode_step(s.step))
            if record is None
            else self.c.ledger.take_over(record, token)
        )
        if not claimed:
            return await self.finish(
                s, s.out(Status.REFUSED, Code.ALREADY_DONE, "recorded earlier"), actor
            )
        await self.c.ledger.advance(s.key, token, State.INTENT, State.DONE, detail="recorded")
        return await self.finish(s, s.out(Status.RECORDED, Code.RECORDED, s.step.why), actor)

    async def _attempt(self, s: StepRef, record: Record | None, approved_by: str | None) -> Outcome:
        action, ledger, actor = s.step.action, self.c.ledger, approved_by or "plantao"
        token, target, kind = new_token(), target_of(action), kind_of(action)
        refused = await self._claim(s, record, token, target, kind)
        if refused is not None:
            return await self.finish(s, refused, actor)
        armed = False

        async def arm(baseline: str, acted_on: str) -> None:
            nonlocal armed
            fields = {"baseline": baseline, "target": acted_on or target}
            if not await ledger.advance(s.key, token, State.INTENT, State.IN_FLIGHT, **fields):
                raise _Lost
            armed = True

        try:
            detail = await perform(self.c, s.incident, action, arm)
        except (_Lost, NoTarget, PlatformUnavailable, PlatformRefused) as exc:
            return await self.finish(
                s, await self._failed(s, exc, token, kind, target, armed), actor
            )
        await ledger.advance(s.key, token, State.IN_FLIGHT, State.DONE, detail=detail)
        by = f" (approved by {approved_by})" if approved_by else ""
        await self.finish(s, s.out(Status.DONE, Code.EXECUTED, detail + by), actor)
        verified = await self.c.verify(s)
        return s.out(Status.DONE, Code.EXECUTED, detail + by, verified=verified)

    async def _claim(
        self, s: StepRef, record: Record | None, token: str, target: str, kind: str | None
    ) -> Outcome | None:
        """Own the step's record (new, or a dead attempt's) and spend its budget; else why not."""
        ledger = self.c.ledger
        claimed = await (
            ledger.claim(s.key, token, target, encode_step(s.step))
            if record is None
            else ledger.take_over(record, token)
        )
        if not claimed:
            busy = "another attempt claimed it"
            return s.out(Status.RETRY, Code.IN_FLIGHT, busy, retry_after_s=1.0)
        if kind is None:
            return None
        if record is not None:  # the dead attempt's action did not happen: give its budget back
            await self.c.guards.refund(kind, target, record.token)
        spent = await self.c.guards.spend(kind, target, token)
        if spent.allowed:
            return None
        await ledger.release(s.key, token)
        reason = f"{kind} budget for `{target}` used ({spent.used}/{spent.limit}): 004 S4"
        return s.out(Status.REFUSED, Code.COOLDOWN, reason, retry_after_s=spent.retry_after_s)

    async def _failed(
        self, s: StepRef, exc: Exception, token: str, kind: str | None, target: str, armed: bool
    ) -> Outcome:
        """Map an attempt's error to an outcome and leave the record in the truthful state."""
        wait = max(1.0, self.c.timing.lease_s)
        if kind is not None and not (armed and isinstance(exc, PlatformUnavailable)):
            await self.c.guards.refund(kind, target, token)  # we did nothing, or nothing happened
        if isinstance(exc, _Lost):
            return s.out(
                Status.RETRY, Code.IN_FLIGHT, "another attempt took it over", retry_after_s=wait
            )
        if not armed:  # stopped before any side effect: the step is free again
            await self.c.ledger.release(s.key, token)
            if isinstance(exc, NoTarget):
                return s.out(Status.REFUSED, Code.NO_TARGET, str(exc))
            if isinstance(exc, PlatformUnavailable):
                return s.out(Status.RETRY, Code.PLATFORM_UNAVAILABLE, str(exc), retry_after_s=wait)
            return s.out(Status.FAILED, Code.PLATFORM_REFUSED, str(exc))
        if isinstance(exc, PlatformUnavailable):  # it may have happened: stays in flight
            reason = f"{exc}; will check on the platform whether it happened before any retry"
            return s.out(Status.RETRY, Code.PLATFORM_UNAVAILABLE, reason, retry_after_s=wait)
        await self.c.ledger.advance(s.key, token, State.IN_FLIGHT, State.FAILED, detail=str(exc))
        return s.out(Status.FAILED, Code.PLATFORM_REFUSED, str(exc))

    async def finish(self, s: StepRef, outcome: Outcome, actor: str) -> Outcome:
        await self.c.store.record(s.incident.id, actor, f"step.{outcome.status}", outcome.line())
        await count_action(self.c.store.redis, outcome.status, outcome.code, outcome.verified)
        return outcome
