"""The scheduler role (RUN_MODE=scheduler): one leader at a time through a Redis lease.

Any number of scheduler processes may run; only the holder of the lease acts. Each acquisition
takes a new fencing epoch, so a paused ex-leader that wakes up cannot act on a stale lease.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import structlog
from arq.connections import ArqRedis

from core.errors import StoreUnavailable
from core.models import IncidentState
from core.queue import enqueue
from core.store import Store, redis_errors

log = structlog.get_logger()
LEASE_KEY = "plantao:scheduler:leader"
EPOCH_KEY = "plantao:scheduler:epoch"
LEASE_MS = 15_000  # a dead leader is replaced within this time
TICK_S = 2.0
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
        lease_ms: int = LEASE_MS,
        stale_ack_s: float = STALE_ACK_S,
    ) -> None:
        self._redis = redis
        self._lease_ms = lease_ms
        self._stale_ack_s = stale_ack_s
        self._store = store
        self.instance = instance or uuid.uuid4().hex
        self.epoch: int | None = None  # the fencing token while leader
        self._renew = redis.register_script(_RENEW)

    async def tick(self) -> bool:
        """Take or keep the lease; True when this instance is the leader afterwards."""
        async with redis_errors():
            if self.epoch is not None and await self._renew(
                [LEASE_KEY], [self._token(), self._lease_ms]
            ):
                return True
            self.epoch = None
            epoch = int(await self._redis.incr(EPOCH_KEY))
            token = f"{self.instance}:{epoch}"
            if await self._redis.set(LEASE_KEY, token, nx=True, px=self._lease_ms):
                self.epoch = epoch
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

    async def run(self) -> None:
        while True:
            try:
                if await self.tick():
                    await self._store.beat("scheduler", self.instance)
                    await self.sweep_stale_acks()
            except StoreUnavailable as exc:
                self.epoch = None
                log.warning("scheduler.redis_lost", error=str(exc))
            await asyncio.sleep(TICK_S)
