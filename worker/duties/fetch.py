"""Read-only HTTP GETs of the duties (status APIs, docs, metrics): bounded, never raising."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from worker.deps import Deps


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int | None = None
    body: str = ""
    error: str = ""  # why there is no answer

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return f"{self.url} failed: {self.error}" if self.status is None else f"HTTP {self.status}"


async def fetch(deps: Deps, url: str, token: str | None = None) -> Fetched:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        response = await deps.http.get(url, headers=headers, timeout=deps.settings.probe_timeout_s)
    except httpx.HTTPError as exc:
        return Fetched(url, error=f"{type(exc).__name__}: {exc}"[:200])
    return Fetched(url, response.status_code, response.text[:10_000])
