"""The baseline of bench/ingest.py: the least an Alertmanager intake can do on this stack.

FastAPI, pydantic validation of the same webhook v4 body, one Redis LPUSH of the raw body, 202.
No auth, no classification, no dedup, no incident, no job. Served exactly like plantão's api:
one uvicorn process with uvloop + httptools, access log off.

    REDIS_URL=redis://127.0.0.1:6380/0 PORT=8001 .venv/bin/python -m bench.baseline_app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.asyncio import Redis

KEY = "baseline:alerts"


class AmAlert(BaseModel):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""  # noqa: N815 (the vendor's names)
    endsAt: str = ""  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""


class AmPayload(BaseModel):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: list[AmAlert] = Field(min_length=1)


def create_app(redis_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = Redis.from_url(redis_url)
        yield
        await app.state.redis.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/alertmanager", status_code=202)
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        payload = AmPayload.model_validate_json(body)
        await request.app.state.redis.lpush(KEY, body)
        return JSONResponse({"accepted": len(payload.alerts)}, status_code=202)

    return app


def main() -> None:
    app = create_app(os.environ["REDIS_URL"])
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8001")),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
