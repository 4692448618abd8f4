"""Operator commands of `plantao` that read and change incidents and silences in Redis."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from arq.connections import ArqRedis

from core.config import PlantaoConfig
from core.errors import InvalidTransition, UnknownIncident
from core.models import IncidentState
from core.queue import connect
from core.settings import Settings
from core.silences import Matcher, Silence, Silences
from core.store import Store
from worker import ops_cli
from worker.duties import rotations

COMMANDS = (
    "incidents",
    "incident",
    "ack",
    "resolve",
    "silence",
    "silences",
    "unsilence",
    "rotations",
    *ops_cli.COMMANDS,  # jobs, replay, dead letters, switches: worker/ops_cli.py
)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("incidents", help="list the newest incidents (needs REDIS_URL)")
    show = sub.add_parser("incident", help="show one incident with its timeline")
    show.add_argument("id")
    for name, what in (("ack", "acknowledge"), ("resolve", "resolve")):
        cmd = sub.add_parser(name, help=f"{what} an incident")
        cmd.add_argument("id")
        cmd.add_argument("--by", required=True, help="who (recorded in the timeline)")
        cmd.add_argument("--reason", default="")
    silence = sub.add_parser("silence", help="silence alerts matching field=value / field=~regex")
    silence.add_argument("--match", action="append", required=True, metavar="FIELD=VALUE")
    silence.add_argument("--minutes", type=int, default=60)
    silence.add_argument("--by", required=True)
    silence.add_argument("--comment", required=True)
    sub.add_parser("silences", help="list silences")
    unsilence = sub.add_parser("unsilence", help="expire a silence now")
    unsilence.add_argument("id")
    rot = sub.add_parser("rotations", help="secret rotations; `done NAME` records one")
    rot.add_argument("action", nargs="?", choices=["done"])
    rot.add_argument("name", nargs="?", help="the secret, as in [rotations.NAME]")
    rot.add_argument("--by", default="operator", help="who rotated it")
    rot.add_argument("--at", type=datetime.fromisoformat, help="when (ISO date), default now")
    ops_cli.add_commands(sub)


def _print(model: object) -> None:
    dump = getattr(model, "model_dump", None)
    print(json.dumps(dump(mode="json") if dump else model, ensure_ascii=False))


async def _rotations(args: argparse.Namespace, redis: ArqRedis, config: PlantaoConfig) -> None:
    """List each secret's schedule and next due date, or record NAME as rotated."""
    known = {n: c for n, c in config.rotations.items() if c.enabled}
    store, zone = rotations.Rotations(redis), config.scheduler.timezone
    if args.action == "done":
        if args.name not in known:
            raise ValueError(f"no rotation {args.name!r}: one of {', '.join(sorted(known))}")
        at = args.at or datetime.now(UTC)
        await store.done(args.name, at if at.tzinfo else at.replace(tzinfo=UTC), args.by)
        names = [args.name]
    else:
        names = sorted(known)
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    for name in names:
        state = await store.get(name)
        due = rotations.next_due(known[name], state, zone)
        last = state.last.isoformat() if state.last else None
        days = (due - today).days
        status = "overdue" if days < 0 else f"due in {days} day(s)"
        row = {"name": name, "schedule": rotations.describe(known[name]), "last_rotation": last}
        _print({**row, "by": state.by, "next_due": due.isoformat(), "status": status})


async def run(
    args: argparse.Namespace, settings: Settings, config: PlantaoConfig | None = None
) -> int:
    """Run one operator command; 0 on success, 1 when refused (with the reason on stderr)."""
    redis = connect(settings.redis_url)
    store, silences = Store(redis, settings.timeline_max_entries), Silences(redis)
    try:
        match args.command:
            case "incidents":
                for incident in await store.incidents(await store.incident_ids()):
                    _print(incident)
            case "incident":
                found = await store.incident(args.id)
                if found is None:
                    raise UnknownIncident(f"no incident {args.id}")
                _print(found)
                for entry in await store.timeline(args.id):
                    when = f"{entry.at:%Y-%m-%d %H:%M:%S}"
                    print(f"  {when} {entry.actor}: {entry.event} {entry.detail}")
            case "ack" | "resolve":
                target = (
                    IncidentState.ACKNOWLEDGED if args.command == "ack" else IncidentState.RESOLVED
                )
                _print(await store.transition(args.id, target, args.by, args.reason))
            case "silence":
                now = datetime.now(UTC)
                silence = Silence(
                    matchers=[Matcher.parse(m) for m in args.match],
                    starts_at=now,
                    ends_at=now + timedelta(minutes=args.minutes),
                    author=args.by,
                    comment=args.comment,
                )
                _print(await silences.add(silence))
            case "silences":
                for item in await silences.all():
                    _print(item)
            case "unsilence":
                expired = await silences.expire(args.id)
                if expired is None:
                    raise UnknownIncident(f"no silence {args.id}")
                _print(expired)
            case "rotations":
                await _rotations(args, redis, config or PlantaoConfig())
            case command if command in ops_cli.COMMANDS:
                await ops_cli.run(args, settings, config or PlantaoConfig(), store)
    except (InvalidTransition, UnknownIncident, ValueError) as exc:
        print(f"plantao: {exc}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
    return 0
