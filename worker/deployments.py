"""Which Railway deployment a deploy action acts on, and whether Railway confirms an unsigned
alert. Pure functions over `RailwayClient.deployments(...)` (latest first); no I/O here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from core.config import ServiceConfig
from core.models import Incident
from worker.clients.railway import Deployment, DeploymentStatus, ServiceRef

# Labels in which a source names the deployment an alert is about (webhook/sources/railway.py
# puts Railway's deployment id in `deployment`).
DEPLOYMENT_LABELS = ("deployment", "deployment_id", "deploymentId")
FAILING = frozenset({DeploymentStatus.FAILED, DeploymentStatus.CRASHED})
# A deployment that is (or was until it crashed) the service's running one: restartable.
RUNNING = frozenset({DeploymentStatus.SUCCESS, DeploymentStatus.CRASHED, DeploymentStatus.SLEEPING})
# Railway marks a deployment REMOVED once a newer one replaced it: it had run successfully
# (failed builds stay FAILED). Docs: docs.railway.com/reference/deployments "Removed".
RAN = frozenset({DeploymentStatus.SUCCESS, DeploymentStatus.REMOVED})


def service_ref(service: ServiceConfig | None) -> ServiceRef | None:
    """The service's Railway ids from PLANTAO_CONFIG, or None if any is missing."""
    if service is None:
        return None
    ids = (service.railway_project_id, service.railway_environment_id, service.railway_service_id)
    if ids[0] is None or ids[1] is None or ids[2] is None:
        return None
    return ServiceRef(ids[0], ids[1], ids[2])


def running(deployments: Sequence[Deployment]) -> Deployment | None:
    """The newest deployment that runs (or crashed running): what restart and redeploy act on."""
    return next((d for d in deployments if d.status in RUNNING), None)


def rollback_target(
    deployments: Sequence[Deployment], known_good: Collection[str] = ()
) -> Deployment | None:
    """The newest deployment older than the current one that ran successfully and that Railway
    can roll back to. `known_good` are ids a source reported successful (core.store deploys)."""
    if not deployments:
        return None
    for candidate in deployments[1:]:
        ran = candidate.status in RAN or candidate.id in known_good
        if ran and candidate.can_rollback:
            return candidate
    return None


def confirm_unsigned(incident: Incident, deployments: Sequence[Deployment]) -> str | None:
    """None when Railway confirms what an unsigned alert claims, else the reason it does not.

    Confirmed means: the deployment the alert names (or, if it names none, the service's newest)
    is known to Railway for this service and is FAILED or CRASHED there.
    """
    named = next((incident.labels[k] for k in DEPLOYMENT_LABELS if incident.labels.get(k)), None)
    if named is not None:
        found = next((d for d in deployments if d.id == named), None)
        if found is None:
            return f"Railway lists no deployment {named} for `{incident.service}`"
    elif deployments:
        found = deployments[0]
    else:
        return f"Railway lists no deployments for `{incident.service}`"
    if found.status not in FAILING:
        return f"Railway reports deployment {found.id} as {found.status}, not failed or crashed"
    return None
