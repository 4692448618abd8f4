"""`python -m chaos.failing_worker serve`: plantão's worker, unchanged except that the
`frontend_down` handler's diagnosis always raises: the poison profile's failing handler (plantão
has no way to load a handler from outside, on purpose)."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from core.models import Incident, Scenario
from handlers import HANDLERS
from handlers.types import Probes
from worker.main import main

SCENARIO = Scenario.FRONTEND_DOWN
ALERTNAME = "FrontendDown"  # webhook/rules.toml: -> frontend_down


async def _fail(incident: Incident, probes: Probes) -> Any:
    raise RuntimeError(f"chaos: the {SCENARIO} handler always fails")


if __name__ == "__main__":
    HANDLERS[SCENARIO] = replace(HANDLERS[SCENARIO], diagnose=_fail)
    sys.exit(main())
