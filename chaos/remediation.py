"""Remediation under faults: services whose last deploy failed on a local Railway
(tests/support/railway_fake.py), Railway's (unsigned) `Deployment.failed` deliveries for them,
and a health endpoint per service that fails until Railway shows a rollback of that service.

plantão confirms each unsigned delivery with the fake, rolls the service back once and verifies
/health/deep; the checker counts the mutations the fake received per service (any second one is
a duplicate side effect) and reads each step's ledger record."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.railway_fake import RailwayFake

PROJECT, ENVIRONMENT = "proj-1", "env-prod"
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "railway"
FAILED = json.loads((FIXTURE / "docs-new-format-example-deployment-failed.json").read_text())


def service_id(name: str) -> str:
    return f"svc-{name}"


class HealthServer:
    """`GET /<service>/health/deep`: 503 until the fake shows a rollback of the service, then
    200 (a rollback is what fixes these services)."""

    def __init__(self, railway: RailwayFake) -> None:
        railway_fake = railway

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.strip("/").split("/")[0]
                deps = railway_fake.deployments_of(service_id(name))
                healed = bool(deps) and deps[0].origin.startswith("rollback")
                body = b'{"status":"ok"}' if healed else b'{"status":"degraded"}'
                self.send_response(200 if healed else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


@dataclass
class Remediation:
    """`count` services `deploy-0`.. with a good deployment and a newer failed one."""

    count: int = 5
    railway: RailwayFake = field(default_factory=lambda: RailwayFake().start())
    failed: dict[str, str] = field(default_factory=dict)  # service -> failed deployment id

    def __post_init__(self) -> None:
        self.health = HealthServer(self.railway)
        for k in range(self.count):
            name = f"deploy-{k}"
            sid = service_id(name)
            self.railway.add_deployment(sid, "SUCCESS", age=timedelta(hours=2))
            self.failed[name] = self.railway.add_deployment(sid, "FAILED", age=timedelta(minutes=3))

    def config_toml(self) -> str:
        blocks = [
            f'[services."{name}"]\nurl = "{self.health.url}/{name}"\n'
            f'railway_project_id = "{PROJECT}"\nrailway_environment_id = "{ENVIRONMENT}"\n'
            f'railway_service_id = "{service_id(name)}"\n'
            for name in self.failed
        ]
        return "\n".join(blocks)

    def env(self) -> dict[str, str]:
        return {"RAILWAY_API_URL": self.railway.url, "RAILWAY_API_TOKEN": self.railway.token}

    def deliveries(self) -> list[tuple[bytes, str]]:
        """One Railway `Deployment.failed` body per service, with the fingerprint plantão gives
        it (per environment and service)."""
        out = []
        for name, deployment in self.failed.items():
            body = json.loads(json.dumps(FAILED))
            body["details"]["id"] = deployment
            body["resource"]["project"] = {"id": PROJECT, "name": "chaos"}
            body["resource"]["environment"] = {
                "id": ENVIRONMENT,
                "name": "production",
                "isEphemeral": False,
            }
            body["resource"]["service"] = {"id": service_id(name), "name": name}
            body["resource"]["deployment"] = {"id": deployment}
            fingerprint = f"railway:failed:{ENVIRONMENT}:{service_id(name)}"
            out.append((json.dumps(body).encode(), fingerprint))
        return out

    def side_effects(self) -> dict[str, int]:
        """Mutations the fake received, per service."""
        by_service: Counter[str] = Counter()
        for call in self.railway.mutations():
            dep_id = str(call.variables.get("id") or "")
            sid = next(
                (s for s in map(service_id, self.failed) if _owns(self.railway, s, dep_id)),
                f"unknown:{call.field}",
            )
            by_service[sid] += 1
        return dict(by_service)

    def healed(self) -> int:
        return sum(
            1
            for name in self.failed
            if (deps := self.railway.deployments_of(service_id(name)))
            and deps[0].origin.startswith("rollback")
        )

    def close(self) -> None:
        self.health.close()
        self.railway.close()


def _owns(railway: RailwayFake, sid: str, deployment_id: str) -> bool:
    return any(d.id == deployment_id for d in railway.deployments_of(sid))
