"""What the executor answers for one step: a status, a stable code and a line for Slack."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.models import Incident
from handlers.actions import describe
from handlers.types import Step
from worker.ledger import Ledger


class Status(StrEnum):
    DONE = "done"  # the action ran (now, or found done on the platform after a crash)
    RECORDED = "recorded"  # HandOver / Advise: nothing to run; noted on the timeline
    DRY_RUN = "dry_run"  # every guard passed, but DRY_RUN is on: nothing changed
    REFUSED = "refused"  # a guard said no; the code says which; never retried
    FAILED = "failed"  # the platform refused, or what happened after a crash is unknowable
    RETRY = "retry"  # try again after `retry_after_s` (platform down, another attempt in flight)


class Code(StrEnum):
    """Stable ids shown in Slack and kept on the timeline; never renamed, only added to."""

    EXECUTED = "executed"
    RECONCILED = "reconciled"  # a crashed attempt's action is visible on the platform: not re-run
    RECORDED = "recorded"
    DRY_RUN = "dry_run"
    PAUSED = "paused"
    POLICY_NEVER = "policy_never"
    NEEDS_APPROVAL = "needs_approval"
    DEPLOYS_FROZEN = "deploys_frozen"
    COOLDOWN = "cooldown"
    UNCONFIRMED = "unconfirmed"  # unsigned incident that Railway's API does not confirm
    NOT_CONFIGURED = "not_configured"  # no Railway ids / database_url / token for the service
    NO_TARGET = "no_target"  # e.g. no earlier successful deployment to roll back to
    ALREADY_DONE = "already_done"
    ALREADY_FAILED = "already_failed"
    IN_FLIGHT = "in_flight"  # another attempt holds the step, or a crashed one has not settled
    UNKNOWN_STATE = "unknown_state"  # a crashed attempt left no trace the platform can show
    INTERRUPTED = "interrupted"  # a crashed attempt had no effect and no later run plans it
    PLATFORM_UNAVAILABLE = "platform_unavailable"
    PLATFORM_REFUSED = "platform_refused"


@dataclass(frozen=True)
class Outcome:
    incident_id: str
    step_key: str
    action: str  # handlers.actions.describe(action)
    status: Status
    code: Code
    reason: str  # one line for Slack: what happened or why not, with the runbook reference
    verified: bool | None = None  # the re-probe after the action; None when none was asked
    retry_after_s: float | None = None  # set with Status.RETRY

    @property
    def escalate(self) -> bool:
        """A human must look now: the action failed, did not verify, or its fate is unknown."""
        return self.status is Status.FAILED or self.verified is False

    def line(self) -> str:
        """`[code] action: reason`, the form the timeline and Slack use."""
        return f"[{self.code}] {self.action}: {self.reason}"


@dataclass(frozen=True)
class StepRef:
    """One step of one incident, as the executor handles it: its record and its outcomes."""

    incident: Incident
    step: Step
    skey: str  # worker.ledger.step_key(step.action)

    @property
    def key(self) -> str:
        return Ledger.key(self.incident.id, self.skey)

    def out(
        self,
        status: Status,
        code: Code,
        reason: str,
        *,
        verified: bool | None = None,
        retry_after_s: float | None = None,
    ) -> Outcome:
        action = describe(self.step.action)
        return Outcome(
            self.incident.id, self.skey, action, status, code, reason, verified, retry_after_s
        )
