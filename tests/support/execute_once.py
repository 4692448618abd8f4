"""Run one deploy step through the real executor in a process of its own, then print the outcome.

The killed-worker test starts this, lets it reach Railway (the fake holds the request), and
SIGKILLs it there: a worker dying between `in_flight` and `done`.

    python -m tests.support.execute_once '{"redis_url": ..., "railway_url": ..., ...}'
"""

import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any

import httpx
from pydantic import SecretStr

from core.config import PlantaoConfig, ServiceConfig
from core.models import Incident
from core.queue import connect
from core.settings import Settings
from core.store import Store
from handlers.actions import Action, RedeployService, RestartService, RollbackDeploy
from handlers.types import Endpoint, HttpCheck, Policy, Step
from worker.checks import Timing
from worker.execute import Executor

ACTIONS: dict[str, type[RestartService | RollbackDeploy | RedeployService]] = {
    "restart": RestartService,
    "rollback": RollbackDeploy,
    "redeploy": RedeployService,
}


class HealthyProbes:
    async def endpoint(self, service: str, endpoint: Endpoint) -> HttpCheck:
        return HttpCheck(endpoint, f"http://{service}.test/", 200, 1.0)


def settings_for(spec: dict[str, Any]) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        dry_run=False,
        slack_bot_token=SecretStr("xoxb-test"),
        slack_channel="#ops",
        slack_signing_secret=SecretStr("signing"),
        railway_api_token=SecretStr(spec["railway_token"]),
        railway_api_url=spec["railway_url"],
    )


async def main(spec: dict[str, Any]) -> None:
    config = PlantaoConfig(
        services={name: ServiceConfig(**svc) for name, svc in spec["services"].items()}
    )
    redis = connect(spec["redis_url"])
    action: Action = ACTIONS[spec["action"]](spec["service"])
    step = Step(action, Policy.AUTO, "killed-worker test")
    incident = Incident.model_validate(spec["incident"])
    async with httpx.AsyncClient() as http:
        executor = Executor.build(
            settings_for(spec), config, Store(redis), HealthyProbes(), http, Timing(lease_s=60)
        )
        print("running", flush=True)
        outcome = await executor.run(incident, step)
    print(json.dumps(asdict(outcome), default=str), flush=True)
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
