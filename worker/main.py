"""The `plantao` command: dev (all roles in one process), serve (RUN_MODE), classify, incidents."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import structlog
import uvicorn
import uvloop
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
from worker import operate, ops_cli, policies
from worker.runner import instance_id, run_supervised, stop_tasks
from worker.scheduler import Scheduler

log = structlog.get_logger()
EXIT_USAGE = 2


def _fail(message: str) -> int:
    print(f"plantao: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop: uvicorn's `loop="uvloop"` only applies to a loop uvicorn creates itself."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


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
    if settings.sentry_client_secret is None and settings.sentry_legacy_token is None:
        log.info("webhook.closed", source="sentry", fix="set SENTRY_CLIENT_SECRET")
    if settings.railway_webhook_token is None:
        log.info("webhook.closed", source="railway", fix="set RAILWAY_WEBHOOK_TOKEN")


async def _dev(settings: Settings, config: PlantaoConfig) -> None:
    server = FakeServer() if settings.redis_url is None else None
    redis = connect(settings.redis_url, server)
    store = Store(redis, settings.timeline_max_entries, config.incidents.flap_window_s)
    where = "embedded store (in memory, lost on exit; set REDIS_URL to use Redis)"
    print(f"plantão dev: api + worker + scheduler on {where if server else 'Redis at REDIS_URL'}")
    for source in SOURCES:
        print(f"webhook: POST http://{settings.host}:{settings.port}/webhooks/{source}")
    if settings.slack_webhook_url is None and settings.slack_bot_token is None:
        print("slack: not configured, messages are printed here")
    _warn_open_sources(settings)
    api = _uvicorn(settings, create_app(settings, redis, config))
    background = [
        asyncio.create_task(run_supervised(settings, config, redis, handle_signals=False)),
        asyncio.create_task(
            Scheduler(
                redis,
                store,
                instance_id("scheduler"),
                stale_ack_s=config.incidents.stale_ack_s,
                config=config,
            ).run()
        ),
    ]
    try:
        await api.serve()
    finally:
        await stop_tasks(background, within_s=10.0)


async def _serve(settings: Settings, config: PlantaoConfig) -> None:
    redis = connect(settings.redis_url)
    match settings.run_mode:
        case "api":
            _warn_open_sources(settings)
            await _uvicorn(settings, create_app(settings, redis, config)).serve()
        case "worker":
            await run_supervised(settings, config, redis)
        case "scheduler":
            store = Store(redis, settings.timeline_max_entries, config.incidents.flap_window_s)
            await Scheduler(
                redis,
                store,
                instance_id("scheduler"),
                stale_ack_s=config.incidents.stale_ack_s,
                config=config,
            ).run()
        case None:
            raise AssertionError("checked by main()")


def _classify(path: Path, config: PlantaoConfig, source_name: str | None) -> int:
    """Print one line per alert in a payload file: source, severity, scenario, service, state,
    fingerprint, why. The source is told by the body (every parser but one refuses it) unless
    --source names it; signatures and tokens are not checked."""
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
        if not alerts:
            print(f"{parser.source}: acknowledged and ignored (nothing in it plantão acts on)")
        classifier = Classifier.from_config(config)
        for alert in alerts:
            found = classifier.classify(alert)
            state = "firing" if alert.firing else "resolved"
            unsigned = "" if alert.signed else "; unsigned: confirmed with the platform first"
            print(
                f"{alert.source}\t{found.severity}\t{found.scenario}\t{alert.service}\t{state}\t"
                f"{alert.fingerprint}\t{found.why}{unsigned}"
            )
        return 0
    return _fail(f"{path} is not a payload plantão understands: " + "; ".join(errors))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plantao", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="api + worker + scheduler in one process")
    sub.add_parser("serve", help="run the role named by RUN_MODE (api, worker, scheduler)")
    classify = sub.add_parser("classify", help="show how a payload file is classified")
    classify.add_argument("file", type=Path)
    classify.add_argument("--source", choices=[s.value for s in SOURCES])
    operate.add_commands(sub)
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
        policies.check(config)
    except ConfigError as exc:
        return _fail(str(exc))
    init_error_reporting(settings)
    match args.command:
        case "dev":
            _run(_dev(settings, config))
        case "serve":
            if settings.run_mode is None:
                return _fail(f"RUN_MODE is not set: it must be one of {', '.join(RUN_MODES)}")
            if settings.redis_url is None:
                return _fail("serve needs REDIS_URL (use `plantao dev` for the embedded store)")
            _run(_serve(settings, config))
        case "classify":
            return _classify(args.file, config, args.source)
        case "token-hash":
            return ops_cli.print_token_hash()
        case command if command in operate.COMMANDS:
            if settings.redis_url is None:
                return _fail(f"{command} needs REDIS_URL (the Redis plantão runs on)")
            return asyncio.run(operate.run(args, settings, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
