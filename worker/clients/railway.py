"""Railway's public GraphQL API (v2), bearer token `RAILWAY_API_TOKEN`: deployments and variables.

Reads are retried on transient failures (tenacity); mutations never are, because a request that
timed out may still have been applied: worker/execute.py reconciles those against `deployments`.
Errors are wrapped where they enter: timeouts, transport errors, 5xx and 429 raise
PlatformUnavailable; GraphQL errors and other 4xx raise PlatformRefused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from core.errors import PlatformRefused, PlatformUnavailable

READ_RETRY_WAIT_S = 0.2
ERROR_EXCERPT = 300  # characters of an unexpected answer kept in the error message


class DeploymentStatus(StrEnum):
    """Railway's DeploymentStatus; UNKNOWN stands for any value added after this was written."""

    BUILDING = "BUILDING"
    CRASHED = "CRASHED"
    DEPLOYING = "DEPLOYING"
    FAILED = "FAILED"
    INITIALIZING = "INITIALIZING"
    NEEDS_APPROVAL = "NEEDS_APPROVAL"
    QUEUED = "QUEUED"
    REMOVED = "REMOVED"
    REMOVING = "REMOVING"
    SKIPPED = "SKIPPED"
    SLEEPING = "SLEEPING"
    SUCCESS = "SUCCESS"
    WAITING = "WAITING"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class ServiceRef:
    """Where a service lives on Railway (ServiceConfig's railway_* ids)."""

    project_id: str
    environment_id: str
    service_id: str


@dataclass(frozen=True)
class Deployment:
    id: str
    status: DeploymentStatus
    created_at: datetime
    can_rollback: bool = True


class _Deployment(BaseModel):  # Railway's field names, verbatim
    id: str
    status: str
    createdAt: datetime  # noqa: N815
    canRollback: bool | None = None  # noqa: N815

    def public(self) -> Deployment:
        try:
            status = DeploymentStatus(self.status)
        except ValueError:
            status = DeploymentStatus.UNKNOWN
        return Deployment(self.id, status, self.createdAt, self.canRollback is not False)


_M = TypeVar("_M", bound=BaseModel)


class _Edge(BaseModel):
    node: _Deployment


class _Connection(BaseModel):
    edges: list[_Edge]


_DEPLOYMENT_FIELDS = "id status createdAt canRollback"
Q_DEPLOYMENTS = f"""query deployments($input: DeploymentListInput!, $first: Int) {{
  deployments(input: $input, first: $first) {{ edges {{ node {{ {_DEPLOYMENT_FIELDS} }} }} }}
}}"""
Q_DEPLOYMENT = f"""query deployment($id: String!) {{
  deployment(id: $id) {{ {_DEPLOYMENT_FIELDS} }}
}}"""
Q_VARIABLES = """query variables($projectId: String!, $environmentId: String!, $serviceId: String) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
}"""
M_REDEPLOY = f"""mutation deploymentRedeploy($id: String!) {{
  deploymentRedeploy(id: $id) {{ {_DEPLOYMENT_FIELDS} }}
}}"""
M_RESTART = """mutation deploymentRestart($id: String!) { deploymentRestart(id: $id) }"""
M_ROLLBACK = """mutation deploymentRollback($id: String!) { deploymentRollback(id: $id) }"""
M_VARIABLE_UPSERT = """mutation variableUpsert($input: VariableUpsertInput!) {
  variableUpsert(input: $input)
}"""


class RailwayClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        read_attempts: int = 3,
    ) -> None:
        self._http = http
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout_s
        self._attempts = read_attempts

    async def deployments(self, ref: ServiceRef, first: int = 20) -> list[Deployment]:
        """The service's deployments in its environment, latest first (Railway's order)."""
        variables = {
            "input": {
                "projectId": ref.project_id,
                "environmentId": ref.environment_id,
                "serviceId": ref.service_id,
            },
            "first": first,
        }
        data = await self._read("deployments", Q_DEPLOYMENTS, variables)
        found = _parse(_Connection, data["deployments"])
        deployments = [edge.node.public() for edge in found.edges]
        return sorted(deployments, key=lambda d: d.created_at, reverse=True)

    async def deployment(self, deployment_id: str) -> Deployment:
        data = await self._read("deployment", Q_DEPLOYMENT, {"id": deployment_id})
        return _parse(_Deployment, data["deployment"]).public()

    async def variable(self, ref: ServiceRef, name: str) -> str | None:
        """One variable's value; the others (secrets among them) are dropped at once."""
        variables = {
            "projectId": ref.project_id,
            "environmentId": ref.environment_id,
            "serviceId": ref.service_id,
        }
        data = await self._read("variables", Q_VARIABLES, variables)
        values = data["variables"]
        if not isinstance(values, dict):
            raise PlatformRefused("Railway answered `variables` with something not a map")
        value = values.get(name)
        return None if value is None else str(value)

    async def redeploy(self, deployment_id: str) -> Deployment:
        data = await self._call("deploymentRedeploy", M_REDEPLOY, {"id": deployment_id})
        return _parse(_Deployment, data["deploymentRedeploy"]).public()

    async def restart(self, deployment_id: str) -> None:
        await self._mutate_bool("deploymentRestart", M_RESTART, {"id": deployment_id})

    async def rollback(self, deployment_id: str) -> None:
        """Roll the service back TO `deployment_id`; Railway answers a Boolean, not a deployment."""
        await self._mutate_bool("deploymentRollback", M_ROLLBACK, {"id": deployment_id})

    async def upsert_variable(self, ref: ServiceRef, name: str, value: str) -> None:
        variables = {
            "input": {
                "projectId": ref.project_id,
                "environmentId": ref.environment_id,
                "serviceId": ref.service_id,
                "name": name,
                "value": value,
            }
        }
        await self._mutate_bool("variableUpsert", M_VARIABLE_UPSERT, variables)

    async def _mutate_bool(self, field: str, query: str, variables: dict[str, Any]) -> None:
        data = await self._call(field, query, variables)
        if data[field] is not True:
            raise PlatformRefused(f"Railway answered {field} with {data[field]!r}, not true")

    async def _read(self, field: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_fixed(READ_RETRY_WAIT_S),
            retry=retry_if_exception_type(PlatformUnavailable),
            reraise=True,
        ):
            with attempt:
                return await self._call(field, query, variables)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _call(self, field: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """POST one operation; return `data` holding `field`, or raise a core error."""
        body = {"query": query, "variables": variables, "operationName": field}
        try:
            response = await self._http.post(
                self._url, json=body, headers=self._headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise PlatformUnavailable(f"Railway {field}: no answer in {self._timeout}s") from exc
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"Railway {field}: {type(exc).__name__}: {exc}") from exc
        return _data(field, response)


def _data(field: str, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    excerpt = response.text[:ERROR_EXCERPT]
    if status == 429 or status >= 500:
        raise PlatformUnavailable(f"Railway {field}: HTTP {status}: {excerpt}")
    try:
        payload = response.json()
    except ValueError as exc:
        if status >= 400:
            raise PlatformRefused(f"Railway {field}: HTTP {status}: {excerpt}") from exc
        raise PlatformUnavailable(f"Railway {field}: not JSON: {excerpt}") from exc
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if errors:
        messages = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
        raise PlatformRefused(f"Railway {field}: {messages or errors}"[:ERROR_EXCERPT])
    if status >= 400:
        raise PlatformRefused(f"Railway {field}: HTTP {status}: {excerpt}")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or field not in data:
        raise PlatformRefused(f"Railway {field}: no data.{field} in the answer: {excerpt}")
    return data


def _parse(model: type[_M], value: Any) -> _M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:  # the schema changed: retrying would get the same answer
        raise PlatformRefused(f"Railway answered an unexpected shape: {exc}") from exc
