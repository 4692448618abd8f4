"""The `plantao` command: dev (all roles in one process), serve (RUN_MODE), classify, incidents."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import structlog
import uvicorn
from fakeredis import FakeServer
from pydantic import ValidationError

from core.config import PlantaoConfig, load_config
from core.errors import ConfigError, PlantaoError
from core.log import configure_logging, init_error_reporting
from core.queue import connect
from core.settings import RUN_MODES, Settings, describe_error
from core.store import Store
from webhook.app import create_app
from webhook.classify import Classifier
from webhook.sources import SOURCES
from worker.runner import instance_id, run_supervised
from worker.scheduler import Scheduler

log = structlog.get_logger()
EXIT_USAGE = 2


def _fail(message: str) -> int:
    print(f"plantao: {message}", file=sys.stderr)
    return EXIT_USAGE


def _uvicorn(settings: Settings, app: object) -> uvicorn.Server:
    # uvloop + httptools: the plain asyncio loop leaves TCP_NODELAY off (DESIGN "HTTP stack").
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
    return uvicorn.Server(config)


def _warn_open_sources(settings: Settings) -> None:
    if settings.alertmanager_token is None:
        log.warning("webhook.unauthenticated", source="alertmanager", fix="set ALERTMANAGER_TOKEN")


async def _dev(settings: Settings, config: PlantaoConfig) -> None:
    server = FakeServer() if settings.redis_url is None else None
    redis = connect(settings.redis_url, server)
    store = Store(redis, settings.timeline_max_entries)
    where = "embedded store (in memory, lost on exit; set REDIS_URL to use Redis)"
    print(f"plantão dev: api + worker + scheduler on {where if server else 'Redis at REDIS_URL'}")
    print(f"webhook: POST http://{settings.host}:{settings.port}/webhooks/alertmanager")
    if settings.slack_webhook_url is None and settings.slack_bot_token is None:
        print("slack: not configured, messages are printed here")
    _warn_open_sources(settings)
    api = _uvicorn(settings, create_app(settings, redis, config))
    background = [
        asyncio.create_task(run_supervised(settings, config, redis, handle_signals=False)),
        asyncio.create_task(Scheduler(redis, store, instance_id("scheduler")).run()),
    ]
    try:
        await api.serve()
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


async def _serve(settings: Settings, config: PlantaoConfig) -> None:
    redis = connect(settings.redis_url)
    match settings.run_mode:
        case "api":
            _warn_open_sources(settings)
            await _uvicorn(settings, create_app(settings, redis, config)).serve()
        case "worker":
            await run_supervised(settings, config, redis)
        case "scheduler":
            store = Store(redis, settings.timeline_max_entries)
            await Scheduler(redis, store, instance_id("scheduler")).run()
        case None:
            raise AssertionError("checked by main()")


def _classify(path: Path, config: PlantaoConfig, source_name: str | None) -> int:
    try:
        body = path.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror}")
    candidates = [p for p in SOURCES.values() if source_name in (None, p.source.value)]
    if not candidates:
        return _fail(f"unknown source {source_name!r}: one of {', '.join(SOURCES)}")
    errors = []
    for parser in candidates:
        try:
            alerts = parser.parse(body)
        except PlantaoError as exc:
            errors.append(f"{parser.source}: {exc}")
            continue
        classifier = Classifier.from_config(config)
        for alert in alerts:
            found = classifier.classify(alert)
            state = "firing" if alert.firing else "resolved"
            print(
                f"{alert.source}\t{found.severity}\t{found.scenario}\t{alert.service}\t{state}\t"
                f"{alert.fingerprint}\t{found.why}"
            )
        return 0
    return _fail(f"{path} is not a payload plantão understands: " + "; ".join(errors))


async def _incidents(settings: Settings) -> int:
    store = Store(connect(settings.redis_url))
    for incident_id in await store.incident_ids():
        incident = await store.incident(incident_id)
        if incident is not None:
            print(json.dumps(incident.model_dump(mode="json"), ensure_ascii=False))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plantao", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="api + worker + scheduler in one process")
    sub.add_parser("serve", help="run the role named by RUN_MODE (api, worker, scheduler)")
    classify = sub.add_parser("classify", help="show how a payload file is classified")
    classify.add_argument("file", type=Path)
    classify.add_argument("--source", choices=[s.value for s in SOURCES])
    sub.add_parser("incidents", help="list the newest incidents (needs REDIS_URL)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        return _fail(f"bad environment: {describe_error(exc)}")
    configure_logging(settings)
    try:
        config = load_config(settings.plantao_config)
        Classifier.from_config(config)  # a bad rule fails here, at start, not at the first alert
    except ConfigError as exc:
        return _fail(str(exc))
    init_error_reporting(settings)
    match args.command:
        case "dev":
            asyncio.run(_dev(settings, config))
        case "serve":
            if settings.run_mode is None:
                return _fail(f"RUN_MODE is not set: it must be one of {', '.join(RUN_MODES)}")
            if settings.redis_url is None:
                return _fail("serve needs REDIS_URL (use `plantao dev` for the embedded store)")
            asyncio.run(_serve(settings, config))
        case "classify":
            return _classify(args.file, config, args.source)
        case "incidents":
            if settings.redis_url is None:
                return _fail("incidents needs REDIS_URL")
            return asyncio.run(_incidents(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
