"""Operator commands for jobs, replays, dead letters and the automation switches:
`plantao jobs ID`, `replay ID [--plan]`, `deadletters [ID]`, `redrive ID|--all`,
`pause --reason`, `resume`, `freeze --reason`, `unfreeze`, `switches`, `outbox [retry]`,
`steps ID`, `approve|reject ID STEP`; and `token-hash`.

The preview (`replay --plan`) runs here, in-process, against this machine's PLANTAO_CONFIG and
code, and changes nothing; a real replay and a re-drive are queued for the workers. Every
command that changes something writes an audit record (role "cli", who = --by).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from arq.connections import ArqRedis

from core import audit, replays
from core.config import PlantaoConfig
from core.errors import InvalidTransition, UnknownIncident
from core.outbox import backlog
from core.queue import job_info
from core.settings import Settings
from core.step_decisions import decide_step, proposed_steps
from core.store import Store
from core.switches import FREEZE, PAUSE, Switches
from core.tokens import token_hash
from worker import outbox_refused
from worker.deps import Deps
from worker.replay import preview

COMMANDS = (
    "jobs",
    "replay",
    "deadletters",
    "redrive",
    "pause",
    "resume",
    "freeze",
    "unfreeze",
    "switches",
    "outbox",
    "steps",
    "approve",
    "reject",
)
_MUTATING = {"redrive", "pause", "resume", "freeze", "unfreeze", "approve", "reject"}


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = sub.add_parser("jobs", help="show a job: arguments, tries, result or error")
    jobs.add_argument("id")
    replay = sub.add_parser("replay", help="re-run a job's handler; --plan previews in dry run")
    replay.add_argument("id", help="the job id, e.g. incident:7:open")
    replay.add_argument("--plan", action="store_true", help="show what would change, run nothing")
    replay.add_argument("--by", required=True, help="who (recorded in the timeline)")
    dead = sub.add_parser("deadletters", help="list dead letters, or show one")
    dead.add_argument("id", nargs="?")
    redrive = sub.add_parser("redrive", help="queue a dead letter (or --all) again")
    redrive.add_argument("id", nargs="?")
    redrive.add_argument("--all", action="store_true")
    redrive.add_argument("--by", required=True)
    for name, what in (("pause", "pause all automation"), ("freeze", "freeze deploys")):
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--reason", required=True)
        cmd.add_argument("--by", required=True)
    for name, what in (("resume", "end the pause"), ("unfreeze", "end the deploy freeze")):
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--reason", default="")
        cmd.add_argument("--by", required=True)
    sub.add_parser("switches", help="show the pause, the deploy freeze and DRY_RUN")
    outbox = sub.add_parser("outbox", help="Slack messages Slack refused; `retry` sends again")
    outbox.add_argument("action", nargs="?", choices=["refused", "retry"], default="refused")
    outbox.add_argument("ids", nargs="*", help="retry: these refused messages (ids)")
    outbox.add_argument("--all", action="store_true", help="retry: every refused message")
    outbox.add_argument("--by", default="operator", help="who (audited)")
    steps = sub.add_parser("steps", help="the steps proposed for approval, with their keys")
    steps.add_argument("id", help="the incident")
    for name in ("approve", "reject"):
        decide = sub.add_parser(name, help=f"{name} a step proposed for an incident (as in Slack)")
        decide.add_argument("id", help="the incident")
        decide.add_argument("step", help="its key: `plantao steps ID`")
        decide.add_argument("--by", required=True, help="who (the approver; audited)")
    sub.add_parser("token-hash", help="read an API token on stdin, print its [[tokens]] sha256")


def print_token_hash() -> int:
    """`plantao token-hash`: needs no Redis; the token comes on stdin, never in argv."""
    token = sys.stdin.readline().strip()
    if not token:
        print(
            "plantao: give the token on stdin (it never goes on the command line)", file=sys.stderr
        )
        return 2
    print(token_hash(token))
    return 0


def _print(obj: object) -> None:
    dump = getattr(obj, "model_dump", None)
    print(json.dumps(dump(mode="json") if dump else obj, ensure_ascii=False, default=str))


async def _switches(redis: ArqRedis, settings: Settings) -> None:
    switches = Switches(redis)
    for name in (PAUSE, FREEZE):
        state = await switches.get(name)
        _print({"switch": name, "on": state is not None, **(asdict(state) if state else {})})
    _print({"switch": "dry_run", "on": settings.dry_run, "reason": "DRY_RUN (environment)"})


async def _preview(
    args: argparse.Namespace, settings: Settings, config: PlantaoConfig, redis: ArqRedis
) -> None:
    deps = Deps.build(settings, config, redis)
    try:
        incident_id, _ = await replays.incident_of(deps.store.redis, deps.store, args.id)
        await deps.store.record(incident_id, args.by, "replay.previewed", f"job {args.id} (cli)")
        result = await preview(deps, incident_id, args.id)
    finally:
        await deps.http.aclose()
    _print(result)
    for line in result.removed:
        print(f"- {line}")
    for line in result.added:
        print(f"+ {line}")
    if not result.changed:
        print("no change: a replay would propose what the original run proposed")


async def _run(
    args: argparse.Namespace, settings: Settings, config: PlantaoConfig, store: Store
) -> None:
    redis, switches = store.redis, Switches(store.redis)
    match args.command:
        case "jobs":
            info = await job_info(redis, args.id)
            letter = await replays.dead_letter(redis, args.id)
            if info.status == "unknown" and letter is None:
                raise UnknownIncident(f"no job {args.id} (results are kept for an hour)")
            _print(
                {"job": info.model_dump(mode="json"), "dead_letter": letter and letter.model_dump()}
            )
        case "replay" if args.plan:
            await _preview(args, settings, config, redis)
        case "replay":
            _print(
                {"job_id": await replays.queue_replay(redis, store, args.id, args.by, plan=False)}
            )
        case "deadletters" if args.id:
            letter = await replays.dead_letter(redis, args.id)
            if letter is None:
                raise UnknownIncident(f"no dead letter {args.id}")
            _print(letter)
        case "deadletters":
            for letter in await replays.dead_letters(redis, store):
                _print(letter)
        case "redrive":
            if args.all == bool(args.id):
                raise ValueError("name one dead letter, or --all")
            ids = (
                [d.job_id for d in await replays.dead_letters(redis, store)]
                if args.all
                else [args.id]
            )
            for job_id in ids:
                _print(
                    {
                        "redriven": job_id,
                        "job_id": await replays.redrive(redis, store, job_id, args.by),
                    }
                )
        case "pause" | "freeze":
            name = PAUSE if args.command == "pause" else FREEZE
            await switches.on(name, args.reason, args.by)
            await _switches(redis, settings)
        case "resume" | "unfreeze":
            name = PAUSE if args.command == "resume" else FREEZE
            await switches.off(name, args.by, args.reason)
            await _switches(redis, settings)
        case "switches":
            await _switches(redis, settings)
        case "steps":
            for proposed in await proposed_steps(store, args.id):
                _print(proposed)
        case "approve" | "reject":
            approve = args.command == "approve"
            _print(await decide_step(store, args.id, args.step, args.by, approve, via="cli"))
        case "outbox" if args.action == "retry":
            if args.all == bool(args.ids):
                raise ValueError("name the refused messages to send again, or --all")
            queued = await outbox_refused.retry(redis, None if args.all else args.ids)
            print(json.dumps({"queued_again": queued}))
        case "outbox":
            held = await backlog(redis)
            print(json.dumps({"queued": held.queued, "refused": held.dead}))
            for item in await outbox_refused.refused(redis):
                print(json.dumps(asdict(item), ensure_ascii=False))


async def run(
    args: argparse.Namespace, settings: Settings, config: PlantaoConfig, store: Store
) -> None:
    """Run one command; refusals raise (operate.run prints them and exits 1). Mutating ones are
    audited with their outcome."""
    retry = args.command == "outbox" and args.action == "retry"
    if args.command not in _MUTATING and not retry:
        await _run(args, settings, config, store)
        return
    target = "all" if getattr(args, "all", False) else (getattr(args, "id", None) or args.command)
    if retry:
        target = "all refused" if args.all else ",".join(args.ids)
    if args.command in ("approve", "reject"):
        target = f"{args.id},{args.step}"  # as the API's audit records name it
    try:
        await _run(args, settings, config, store)
    except (InvalidTransition, UnknownIncident, ValueError) as exc:
        outcome = f"error: {type(exc).__name__}: {exc}"
        await audit.write(store.redis, args.by, "cli", args.command, target, outcome)
        raise
    await audit.write(store.redis, args.by, "cli", args.command, target, "ok")
