"""Read-only probes for handlers (implements handlers.types.Probes): HTTP health checks.

Each probe has a timeout and a bounded retry on transport errors (tenacity); a probe that
cannot run returns a finding that says why. It never raises into the handler.
"""

from __future__ import annotations

import time

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from core.config import PlantaoConfig
from handlers.types import Endpoint, HttpCheck

BODY_EXCERPT = 500  # characters of a health body kept as evidence
RETRY_WAIT_S = 0.2


class HttpProbes:
    def __init__(
        self, config: PlantaoConfig, client: httpx.AsyncClient, timeout_s: float, attempts: int
    ) -> None:
        self._config = config
        self._client = client
        self._timeout = timeout_s
        self._attempts = attempts

    def _url(self, service: str, endpoint: Endpoint) -> str | None:
        svc = self._config.services.get(service)
        if svc is None:
            return None
        path = {
            Endpoint.HEALTH: svc.health_path,
            Endpoint.READY: svc.ready_path,
            Endpoint.DEEP: svc.deep_path,
        }[endpoint]
        return svc.endpoint(path)

    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck:
        url = self._url(service, endpoint)
        if url is None:
            why = f"service {service!r} has no url in PLANTAO_CONFIG"
            return HttpCheck(endpoint, None, error=why)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_fixed(RETRY_WAIT_S),
                retry=retry_if_exception_type(httpx.TransportError),
                reraise=True,
            ):
                with attempt:
                    started = time.perf_counter()
                    response = await self._client.get(url, timeout=self._timeout)
                    latency = (time.perf_counter() - started) * 1000
        except httpx.TransportError as exc:
            return HttpCheck(endpoint, url, error=f"{type(exc).__name__}: {exc}"[:200])
        except httpx.HTTPError as exc:  # invalid URL and the like: the config is wrong
            return HttpCheck(endpoint, url, error=f"{type(exc).__name__}: {exc}"[:200])
        return HttpCheck(
            endpoint, url, response.status_code, latency, None, response.text[:BODY_EXCERPT]
        )
