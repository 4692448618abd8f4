"""The scheduler role (RUN_MODE=scheduler): one leader at a time through a Redis lease.

Any number of scheduler processes may run; only the holder of the lease acts. Each acquisition
takes a new fencing epoch, so a paused ex-leader that wakes up cannot act on a stale lease.
The leader runs the duties of worker/duties/ (each only schedules timers or enqueues jobs) and
fires the timers that are due (core/timers.py): their jobs do the work in the worker.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import sentry_sdk
import structlog
from arq.connections import ArqRedis

from core.config import PlantaoConfig
from core.errors import StoreUnavailable
from core.models import IncidentState
from core.queue import enqueue
from core.store import Store, redis_errors
from core.timers import EPOCH_KEY, LEASE_KEY, Timers, note_lease
from worker.duties import DUTIES
from worker.duties.context import Duty, DutyContext

__all__ = ["EPOCH_KEY", "LEASE_KEY", "Scheduler"]
log = structlog.get_logger()
STALE_ACK_S = 3600.0  # PLANTAO_CONFIG incidents.stale_ack_s

# Renew only a lease we still hold: compare-and-extend in one step.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class Scheduler:
    def __init__(
        self,
        redis: ArqRedis,
        store: Store,
        instance: str | None = None,
        lease_ms: int | None = None,
        stale_ack_s: float = STALE_ACK_S,
        config: PlantaoConfig | None = None,
    ) -> None:
        """Without `config` the duties run with PLANTAO_CONFIG's defaults; `lease_ms` given
        here wins over `[scheduler] lease_s`."""
        self._redis = redis
        self.config = config if config is not None else PlantaoConfig()
        cfg = self.config.scheduler
        self._lease_ms = lease_ms if lease_ms is not None else int(cfg.lease_s * 1000)
        self._tick_s = cfg.tick_s
        self._stale_ack_s = stale_ack_s
        self._store = store
        self.instance = instance or uuid.uuid4().hex
        self.epoch: int | None = None  # the fencing token while leader
        self._renew = redis.register_script(_RENEW)
        self.timers = Timers(redis)
        self._ctx = DutyContext(redis, store, self.timers, self.config)
        self._last_run: dict[str, datetime] = {}  # duty name -> when it last planned

    async def tick(self) -> bool:
        """Take or keep the lease; True when this instance is the leader afterwards."""
        async with redis_errors():
            if self.epoch is not None and await self._renew(
                [LEASE_KEY], [self._token(), self._lease_ms]
            ):
                await note_lease(self._redis, self._token(), acquired=False)
                return True
            self.epoch = None
            epoch = int(await self._redis.incr(EPOCH_KEY))
            token = f"{self.instance}:{epoch}"
            if await self._redis.set(LEASE_KEY, token, nx=True, px=self._lease_ms):
                self.epoch = epoch
                self._last_run.clear()  # a new leader plans every duty at once
                self.timers.forget()
                await note_lease(self._redis, token, acquired=True)
                log.info("scheduler.leader", instance=self.instance, epoch=epoch)
                return True
        return False

    def _token(self) -> str:
        return f"{self.instance}:{self.epoch}"

    async def leader(self) -> str | None:
        async with redis_errors():
            holder = await self._redis.get(LEASE_KEY)
        return holder.decode() if holder else None

    async def sweep_stale_acks(self, now: datetime | None = None) -> list[str]:
        """Acknowledged incidents with no activity for `stale_ack_s` are re-notified, once per
        acknowledgement. Returns the incidents it queued a notice for."""
        now = now or datetime.now(UTC)
        queued = []
        for incident in await self._store.incidents(await self._store.open_incident_ids()):
            if incident.state != IncidentState.ACKNOWLEDGED or incident.acknowledged_at is None:
                continue
            timeline = await self._store.timeline(incident.id)
            last = max([incident.acknowledged_at, *(e.at for e in timeline[-1:])])
            if (now - last).total_seconds() < self._stale_ack_s:
                continue
            acked = int(incident.acknowledged_at.timestamp() * 1000)
            if await self._store.claim_once(f"stale-ack:{incident.id}:{acked}"):
                await self._store.record(
                    incident.id, "scheduler", "ack.stale", f"quiet since {last:%H:%M} UTC"
                )
                await enqueue(
                    self._redis,
                    "notify_incident",
                    incident.id,
                    "stale_ack",
                    job_id=f"incident:{incident.id}:stale_ack:{acked}",
                )
                queued.append(incident.id)
        return queued

    def _every(self, duty: Duty) -> timedelta:
        if duty.name == "reconcile":
            return timedelta(seconds=self.config.scheduler.reconcile_every_s)
        return duty.every

    async def run_duties(self, now: datetime, *, fence: bool = True) -> list[str]:
        """One leader's round at `now`: each duty whose turn it is plans (schedules timers,
        enqueues lost jobs), then every timer due at `now` fires once. Returns the timers fired.
        With `fence`, nothing fires unless this instance still holds the lease."""
        for duty in DUTIES:
            last = self._last_run.get(duty.name)
            if last is not None and last <= now < last + self._every(duty):
                continue  # not its turn yet (a clock set back runs it at once)
            self._last_run[duty.name] = now
            try:
                await duty.plan(self._ctx, now)
            except StoreUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - one broken duty must not stop the others
                sentry_sdk.capture_exception(exc)
                log.error("duty.plan_failed", duty=duty.name, error=f"{type(exc).__name__}: {exc}")
        late_after = timedelta(seconds=self.config.scheduler.late_after_s)
        token = self._token() if fence else ""
        fired = await self.timers.fire_due(now, fence=token, late_after=late_after)
        if fired:
            log.info("timers.fired", timers=fired)
        return fired

    async def run(self) -> None:
        while True:
            try:
                if await self.tick():
                    now = datetime.now(UTC)
                    await self._store.beat("scheduler", self.instance)
                    await self.sweep_stale_acks(now)
                    await self.run_duties(now)
            except StoreUnavailable as exc:
                self.epoch = None
                log.warning("scheduler.redis_lost", error=str(exc))
            await asyncio.sleep(self._tick_s)
