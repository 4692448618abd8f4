"""Run what is queued, as a worker would, inside the test's own event loop."""

from arq.connections import ArqRedis

from core.config import PlantaoConfig
from core.settings import Settings
from handlers.types import Probes
from worker.runner import build_worker


async def run_queued(
    settings: Settings, config: PlantaoConfig, redis: ArqRedis, probes: Probes | None = None
) -> int:
    """Every queued job (and the jobs they queue) in a burst worker, its shutdown included (which
    runs on_shutdown; the store's client reconnects on use). Returns the jobs completed."""
    worker = build_worker(settings, config, redis, burst=True, handle_signals=False, probes=probes)
    try:
        await worker.main()
    finally:
        await worker.close()
    return int(worker.jobs_complete)
