"""Diagnosis only: plantão's api with one of the intake's speed-ups turned off, to measure what
each is worth in the same run (`bench/run ingest --diagnose` runs these beside the shipped api).
Nothing here is product code; the switches patch the api in this process only.

    --no-fast-path  POST /webhooks/{source} through FastAPI's router again (no
                    webhook/intake_asgi.py IntakeFastPath middleware)
    --no-pipe       the intake's EVALSHA through redis-py's pool (no webhook/redis_pipe.py)
    --no-prefilter  classification rules searched without their literal prefilters
                    (webhook/prefilter.py)
    --ingest-lua F  the intake's Lua step read from file F instead of core/ingest.lua (to
                    measure a proposed script beside the shipped one)

Otherwise served exactly as `plantao serve` with RUN_MODE=api (the same environment:
REDIS_URL, HOST, PORT, tokens...; uvloop + httptools, one process).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import cast

from fastapi import FastAPI

from core import store
from core.config import load_config
from core.log import configure_logging
from core.queue import connect
from core.settings import Settings
from webhook import classify, redis_pipe
from webhook.app import create_app
from webhook.intake_asgi import IntakeFastPath
from worker.main import _run, _uvicorn


def without_fast_path(app: FastAPI) -> None:
    kept = [m for m in app.user_middleware if cast(object, m.cls) is not IntakeFastPath]
    if len(kept) == len(app.user_middleware):
        raise SystemExit("--no-fast-path: the app has no IntakeFastPath middleware any more")
    app.user_middleware = kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-fast-path", action="store_true")
    parser.add_argument("--no-pipe", action="store_true")
    parser.add_argument("--no-prefilter", action="store_true")
    parser.add_argument("--ingest-lua", type=Path)
    args = parser.parse_args()
    if args.ingest_lua:
        store._INGEST = args.ingest_lua.read_text(encoding="utf-8")
    if args.no_pipe:
        redis_pipe.Pipe.usable = staticmethod(lambda _redis: False)  # type: ignore[method-assign,assignment]
    if args.no_prefilter:
        classify.prefilter = lambda _pattern: None  # type: ignore[attr-defined,assignment]
    settings = Settings()
    configure_logging(settings)
    app = create_app(settings, connect(settings.redis_url), load_config(settings.plantao_config))
    if args.no_fast_path:
        without_fast_path(app)
    _run(_uvicorn(settings, app).serve())


if __name__ == "__main__":
    main()
