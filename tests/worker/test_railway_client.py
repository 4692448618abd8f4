"""The Railway GraphQL client against the local fake: reads, mutations, and how failures map."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from core.errors import PlatformRefused, PlatformUnavailable, TransientError
from tests.support.railway_fake import RailwayFake
from worker.clients.railway import DeploymentStatus, RailwayClient, ServiceRef

REF = ServiceRef("proj-1", "env-prod", "svc-api")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def client_for(fake: RailwayFake, http: httpx.AsyncClient, **kw: float) -> RailwayClient:
    timeout = kw.get("timeout_s", 2.0)
    return RailwayClient(http, fake.url, fake.token, timeout_s=timeout, read_attempts=3)


async def test_deployments_are_listed_latest_first_with_status_and_time(
    railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """The list holds the service's deployments in its environment only, newest first, typed."""
    old = railway.add_deployment("svc-api", "REMOVED", age=timedelta(hours=2))
    new = railway.add_deployment("svc-api", "FAILED", age=timedelta(minutes=5))
    railway.add_deployment("svc-api", "SUCCESS", environment_id="env-staging")
    railway.add_deployment("svc-web", "SUCCESS")
    found = await client_for(railway, http).deployments(REF)
    assert [(d.id, d.status) for d in found] == [
        (new, DeploymentStatus.FAILED),
        (old, DeploymentStatus.REMOVED),
    ]
    assert found[0].created_at > found[1].created_at
    call = railway.calls[-1]
    assert call.authorization == f"Bearer {railway.token}"
    assert call.variables["input"] == {
        "projectId": "proj-1",
        "environmentId": "env-prod",
        "serviceId": "svc-api",
    }


async def test_one_deployment_is_read_by_id(railway: RailwayFake, http: httpx.AsyncClient) -> None:
    """`deployment(id)` answers that deployment's current status."""
    dep = railway.add_deployment("svc-api", "CRASHED")
    found = await client_for(railway, http).deployment(dep)
    assert (found.id, found.status) == (dep, DeploymentStatus.CRASHED)


async def test_an_unknown_status_reads_as_unknown(
    railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A status Railway adds later does not break the client: it reads as UNKNOWN."""
    dep = railway.add_deployment("svc-api", "HIBERNATING")
    assert (await client_for(railway, http).deployment(dep)).status is DeploymentStatus.UNKNOWN


async def test_redeploy_returns_the_new_deployment(
    railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """deploymentRedeploy makes a new deployment of the same service and returns it."""
    dep = railway.add_deployment("svc-api", "SUCCESS", age=timedelta(minutes=1))
    made = await client_for(railway, http).redeploy(dep)
    assert made.id != dep
    assert railway.deployment(made.id).origin == f"redeploy of {dep}"
    assert [c.field for c in railway.mutations()] == ["deploymentRedeploy"]


async def test_rollback_and_restart_answer_booleans(
    railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """deploymentRollback and deploymentRestart return nothing when Railway answers true."""
    good = railway.add_deployment("svc-api", "REMOVED", age=timedelta(hours=1))
    bad = railway.add_deployment("svc-api", "CRASHED")
    client = client_for(railway, http)
    await client.rollback(good)
    await client.restart(bad)
    assert railway.deployments_of("svc-api")[0].origin == f"rollback of {good}"
    assert railway.deployment(bad).restarts == 1


async def test_a_variable_is_upserted_and_read_back_alone(
    railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """variableUpsert sets one variable; `variable` returns only the one asked for."""
    railway.variables[("proj-1", "env-prod", "svc-api")] = {"DATABASE_URL": "postgres://u:p@h/db"}
    client = client_for(railway, http)
    await client.upsert_variable(REF, "MAINTENANCE_MODE", "true")
    assert await client.variable(REF, "MAINTENANCE_MODE") == "true"
    assert await client.variable(REF, "NOPE") is None
    upsert = railway.mutations("variableUpsert")[0]
    assert upsert.variables["input"]["name"] == "MAINTENANCE_MODE"


async def test_reads_are_retried_on_5xx(railway: RailwayFake, http: httpx.AsyncClient) -> None:
    """A read that meets two 503s succeeds on the third attempt."""
    dep = railway.add_deployment("svc-api")
    railway.fail(503, times=2)
    assert (await client_for(railway, http).deployment(dep)).id == dep
    assert [c.field for c in railway.calls] == ["deployment"] * 3


async def test_reads_give_up_as_platform_unavailable(
    railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """After the last attempt a 5xx read raises PlatformUnavailable, a TransientError."""
    railway.fail(502, times=3)
    with pytest.raises(PlatformUnavailable, match="HTTP 502") as caught:
        await client_for(railway, http).deployments(REF)
    assert isinstance(caught.value, TransientError)


async def test_mutations_are_never_retried(railway: RailwayFake, http: httpx.AsyncClient) -> None:
    """A rollback answered 503 is sent once and raises PlatformUnavailable: it may have happened."""
    dep = railway.add_deployment("svc-api")
    railway.fail(503, field="deploymentRollback")
    with pytest.raises(PlatformUnavailable):
        await client_for(railway, http).rollback(dep)
    assert len(railway.mutations("deploymentRollback")) == 1


async def test_a_slow_answer_times_out_as_unavailable(
    railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """A mutation answered after the timeout raises PlatformUnavailable naming the wait."""
    dep = railway.add_deployment("svc-api")
    railway.delay(1.0, field="deploymentRestart")
    with pytest.raises(PlatformUnavailable, match=r"no answer in 0\.2s"):
        await client_for(railway, http, timeout_s=0.2).restart(dep)


async def test_graphql_errors_are_refusals(railway: RailwayFake, http: httpx.AsyncClient) -> None:
    """GraphQL errors in a 200 answer raise PlatformRefused with Railway's message, unretried."""
    railway.graphql_error("Problem processing request", field="deployments")
    with pytest.raises(PlatformRefused, match="Problem processing request"):
        await client_for(railway, http).deployments(REF)
    assert len(railway.calls) == 1


async def test_a_rejected_token_is_a_refusal(railway: RailwayFake, http: httpx.AsyncClient) -> None:
    """A wrong bearer token is refused ("Not Authorized"), not retried."""
    client = RailwayClient(http, railway.url, "wrong-token", timeout_s=2.0)
    with pytest.raises(PlatformRefused, match="Not Authorized"):
        await client.deployments(REF)
    assert len(railway.calls) == 1


async def test_a_rollback_railway_rejects_is_a_refusal(
    railway: RailwayFake, http: httpx.AsyncClient
) -> None:
    """Rolling back to a deployment Railway cannot restore raises PlatformRefused."""
    dep = railway.add_deployment("svc-api", "REMOVED", can_rollback=False)
    with pytest.raises(PlatformRefused, match="Cannot rollback"):
        await client_for(railway, http).rollback(dep)


async def test_an_unreachable_api_is_unavailable(http: httpx.AsyncClient) -> None:
    """A refused connection raises PlatformUnavailable after the read attempts."""
    client = RailwayClient(http, "http://127.0.0.1:9/graphql/v2", "t", timeout_s=1.0)
    with pytest.raises(PlatformUnavailable, match="ConnectError"):
        await client.deployments(REF)


async def test_a_4xx_without_graphql_errors_is_a_refusal(http: httpx.AsyncClient) -> None:
    """An HTTP 400 with a plain body (a proxy, a bad request) is refused, not retried."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="bad request")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mocked:
        client = RailwayClient(mocked, "http://railway.test/graphql/v2", "t")
        with pytest.raises(PlatformRefused, match="HTTP 400"):
            await client.deployments(REF)
