"""A local Railway GraphQL API: the operations worker/clients/railway.py sends, over an in-memory
model of deployments and variables, on loopback. It records every call and can be told to fail.

Only what plantão uses is implemented: `deployments`, `deployment`, `variables`,
`deploymentRedeploy`, `deploymentRestart`, `deploymentRollback`, `variableUpsert`, all with
GraphQL variables (no inline literals). The operation is recognised by its root field.
Faults (`fail`, `graphql_error`, `delay`, `hold`) apply to the next matching requests, in order.
"""

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

ROOT_FIELD = re.compile(r"^\s*(?:query|mutation)\b[^{]*\{\s*(\w+)")
MUTATIONS = ("deploymentRedeploy", "deploymentRestart", "deploymentRollback", "variableUpsert")
Answer = tuple[int, dict[str, Any]]


@dataclass
class FakeDeployment:
    id: str
    project_id: str
    environment_id: str
    service_id: str
    status: str
    created_at: datetime
    can_rollback: bool = True
    restarts: int = 0
    origin: str = ""  # "rollback of <id>" / "redeploy of <id>" for deployments the API made

    def node(self) -> dict[str, Any]:
        created = self.created_at.isoformat().replace("+00:00", "Z")
        return {
            "id": self.id,
            "status": self.status,
            "createdAt": created,
            "canRollback": self.can_rollback,
        }


@dataclass(frozen=True)
class GraphQLCall:
    field: str
    variables: dict[str, Any]
    authorization: str | None


@dataclass
class Gate:
    """A held request: `received` is set when it arrives, it proceeds on `release()`, and
    `applied` is set once the fake has carried it out (its caller may be gone by then)."""

    received: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    applied: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class _Fault:
    field: str | None  # None: any operation
    status: int | None = None
    message: str | None = None
    delay_s: float = 0.0
    gate: Gate | None = None


class RailwayFake:
    """Use the `railway` fixture, or `start()` and `close()` it yourself."""

    def __init__(self, token: str = "railway-test-token") -> None:
        self.token = token
        self.new_status = "SUCCESS"  # the status of deployments made by rollback / redeploy
        self.variables: dict[tuple[str, str, str], dict[str, str]] = {}
        self._deployments: dict[str, FakeDeployment] = {}
        self._calls: list[GraphQLCall] = []
        self._faults: list[_Fault] = []
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True  # a held request must not block close()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/graphql/v2"

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        with self._cond:
            for fault in self._faults:
                if fault.gate is not None:
                    fault.gate.release()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    # -- the model ---------------------------------------------------------------------------

    def add_deployment(
        self,
        service_id: str,
        status: str = "SUCCESS",
        *,
        environment_id: str = "env-prod",
        project_id: str = "proj-1",
        age: timedelta = timedelta(0),
        can_rollback: bool = True,
    ) -> str:
        """Add a deployment created `age` ago; returns its id."""
        with self._cond:
            dep = FakeDeployment(
                f"dep-{uuid.uuid4().hex[:10]}",
                project_id,
                environment_id,
                service_id,
                status,
                self._created(datetime.now(UTC) - age),
                can_rollback,
            )
            self._deployments[dep.id] = dep
            return dep.id

    def deployment(self, deployment_id: str) -> FakeDeployment:
        with self._cond:
            return self._deployments[deployment_id]

    def deployments_of(self, service_id: str) -> list[FakeDeployment]:
        """The service's deployments, newest first."""
        with self._cond:
            found = [d for d in self._deployments.values() if d.service_id == service_id]
        return sorted(found, key=lambda d: d.created_at, reverse=True)

    # -- what was asked ----------------------------------------------------------------------

    @property
    def calls(self) -> list[GraphQLCall]:
        with self._cond:
            return list(self._calls)

    def mutations(self, name: str | None = None) -> list[GraphQLCall]:
        """Mutation calls received (all, or of one root field), oldest first."""
        return [c for c in self.calls if c.field in MUTATIONS and name in (None, c.field)]

    def wait_for(
        self, predicate: Callable[[list[GraphQLCall]], bool], timeout: float = 10.0
    ) -> list[GraphQLCall]:
        with self._cond:
            if self._cond.wait_for(lambda: predicate(list(self._calls)), timeout):
                return list(self._calls)
            got = ", ".join(c.field for c in self._calls) or "none"
        raise AssertionError(f"condition not met within {timeout}s; calls: {got}")

    # -- faults ------------------------------------------------------------------------------

    def fail(self, status: int = 503, *, times: int = 1, field: str | None = None) -> None:
        """Answer the next `times` matching requests with HTTP `status` (and apply nothing)."""
        self._add([_Fault(field, status=status) for _ in range(times)])

    def graphql_error(self, message: str, *, times: int = 1, field: str | None = None) -> None:
        """Answer 200 with a GraphQL `errors` list (and apply nothing)."""
        self._add([_Fault(field, message=message) for _ in range(times)])

    def delay(self, seconds: float, *, times: int = 1, field: str | None = None) -> None:
        """Wait `seconds` before handling the next `times` matching requests normally."""
        self._add([_Fault(field, delay_s=seconds) for _ in range(times)])

    def hold(self, field: str) -> Gate:
        """Hold the next request for `field` until the gate is released, then apply it."""
        gate = Gate()
        self._add([_Fault(field, gate=gate)])
        return gate

    def _add(self, faults: list[_Fault]) -> None:
        with self._cond:
            self._faults.extend(faults)

    def _take_fault(self, name: str) -> _Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.field in (None, name):
                return self._faults.pop(i)
        return None

    # -- serving -----------------------------------------------------------------------------

    def _created(self, at: datetime) -> datetime:
        """Creation times strictly increase, so "newest first" is unambiguous."""
        newest = max((d.created_at for d in self._deployments.values()), default=None)
        if newest is not None and at <= newest and at > newest - timedelta(seconds=1):
            return newest + timedelta(microseconds=1)
        return at

    def _serve(self, body: bytes, authorization: str | None) -> Answer:
        try:
            request = json.loads(body)
            query, variables = str(request["query"]), dict(request.get("variables") or {})
        except (ValueError, KeyError, TypeError):
            return 400, {"errors": [{"message": "Must provide query string."}]}
        match = ROOT_FIELD.match(query)
        name = match.group(1) if match else "?"
        with self._cond:
            self._calls.append(GraphQLCall(name, variables, authorization))
            fault = self._take_fault(name)
            self._cond.notify_all()
        if fault is not None and fault.gate is not None:
            fault.gate.received.set()
            fault.gate.released.wait()
        elif fault is not None and fault.delay_s:
            threading.Event().wait(fault.delay_s)
        elif fault is not None and fault.status is not None:
            return fault.status, {"errors": [{"message": f"injected HTTP {fault.status}"}]}
        elif fault is not None and fault.message is not None:
            return 200, {"errors": [{"message": fault.message}], "data": None}
        if authorization != f"Bearer {self.token}":
            return 200, {"errors": [{"message": "Not Authorized"}], "data": None}
        with self._cond:
            answer = self._operate(name, variables)
        if fault is not None and fault.gate is not None:
            fault.gate.applied.set()
        return answer

    def _operate(self, name: str, v: dict[str, Any]) -> Answer:
        if name == "deployments":
            inp = v["input"]
            found = [
                d
                for d in self.deployments_of(inp["serviceId"])
                if d.environment_id == inp["environmentId"] and d.project_id == inp["projectId"]
            ][: int(v.get("first") or 100)]
            edges = [{"node": d.node()} for d in found]
            return _data(name, {"edges": edges})
        if name == "variables":
            key = (v["projectId"], v["environmentId"], v.get("serviceId") or "")
            return _data(name, dict(self.variables.get(key, {})))
        if name == "variableUpsert":
            inp = v["input"]
            key = (inp["projectId"], inp["environmentId"], inp.get("serviceId") or "")
            self.variables.setdefault(key, {})[inp["name"]] = inp["value"]
            return _data(name, True)
        dep = self._deployments.get(str(v.get("id")))
        if dep is None or name not in ("deployment", *MUTATIONS):
            message = "Deployment not found" if dep is None else f"Cannot query field {name!r}"
            return 200, {"errors": [{"message": message}], "data": None}
        if name == "deployment":
            return _data(name, dep.node())
        if name == "deploymentRestart":
            dep.restarts += 1
            dep.status = "SUCCESS" if dep.status == "CRASHED" else dep.status
            return _data(name, True)
        if name == "deploymentRollback" and not dep.can_rollback:
            return 200, {"errors": [{"message": "Cannot rollback to this deployment"}]}
        made = self._deploy_again(dep, "rollback" if name == "deploymentRollback" else "redeploy")
        return _data(name, True if name == "deploymentRollback" else made.node())

    def _deploy_again(self, source: FakeDeployment, how: str) -> FakeDeployment:
        for other in self._deployments.values():
            if other.service_id == source.service_id and other.status == "SUCCESS":
                other.status = "REMOVED"  # Railway removes the deployment a new one replaces
        made = FakeDeployment(
            f"dep-{uuid.uuid4().hex[:10]}",
            source.project_id,
            source.environment_id,
            source.service_id,
            self.new_status,
            self._created(datetime.now(UTC)),
            origin=f"{how} of {source.id}",
        )
        self._deployments[made.id] = made
        return made

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake._serve(body, self.headers.get("Authorization"))
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller is gone (killed while we held its request)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _data(name: str, value: Any) -> Answer:
    return 200, {"data": {name: value}}
