"""Steps as JSON, exactly as proposed: a Slack click runs the step its button showed, and a
step's idempotency record names the step, so a re-run can settle it after a crash."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, get_args

from pydantic import TypeAdapter

from handlers.actions import Action
from handlers.types import Endpoint, Policy, Step

ACTION_TYPES: dict[str, type[Any]] = {t.__name__: t for t in get_args(Action)}


def encode_step(step: Step) -> str:
    return json.dumps(
        {
            "action": type(step.action).__name__,
            "fields": asdict(step.action),
            "policy": step.policy.value,
            "why": step.why,
            "verify": step.verify.value if step.verify else None,
        },
        default=str,
    )


def decode_step(raw: str) -> Step:
    """The step encode_step wrote; ValueError or KeyError when `raw` is not one."""
    data = json.loads(raw)
    action = TypeAdapter(ACTION_TYPES[data["action"]]).validate_python(data["fields"])
    verify = Endpoint(data["verify"]) if data.get("verify") else None
    return Step(action, Policy(data["policy"]), data["why"], verify)
