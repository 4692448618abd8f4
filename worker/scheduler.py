"""The scheduler role (RUN_MODE=scheduler): one leader at a time through a Redis lease.

Any number of scheduler processes may run; only the holder of the lease acts. Each acquisition
takes a new fencing epoch, so a paused ex-leader that wakes up cannot act on a stale lease.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog
from arq.connections import ArqRedis

from core.errors import StoreUnavailable
from core.store import Store, redis_errors

log = structlog.get_logger()
LEASE_KEY = "plantao:scheduler:leader"
EPOCH_KEY = "plantao:scheduler:epoch"
LEASE_MS = 15_000  # a dead leader is replaced within this time
TICK_S = 2.0

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
    ) -> None:
        self._redis = redis
        self._lease_ms = lease_ms
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

    async def run(self) -> None:
        while True:
            try:
                if await self.tick():
                    await self._store.beat("scheduler", self.instance)
            except StoreUnavailable as exc:
                self.epoch = None
                log.warning("scheduler.redis_lost", error=str(exc))
            await asyncio.sleep(TICK_S)
