"""Railway's project-webhook bodies, field names verbatim. Two shapes: the older
`{"type": "DEPLOY", "status": ..., "service": ...}` (docs before Nov 2025; `status` and `service`
are absent from the docs sample, present in real deliveries) and the newer
`{"type": "<Resource>.<event>", "details": ..., "resource": ...}`. Any other `type` is kept as
`Other` so the delivery is acknowledged and ignored rather than refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

Text = Annotated[str, Field(max_length=200)]  # ids and names end up in Redis keys and labels


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)


class Ref(_Wire):
    id: Text = ""
    name: Text = ""


class Meta(_Wire):
    branch: str | None = None
    commitHash: str | None = None  # noqa: N815
    commitMessage: str | None = None  # noqa: N815


class LegacyDeployment(_Wire):
    id: Text = ""
    meta: Meta | None = None


class LegacyDeploy(_Wire):
    type: Literal["DEPLOY"]
    status: Text = ""  # BUILDING, DEPLOYING, SUCCESS, FAILED, CRASHED, REMOVED, ...
    timestamp: Text = ""
    project: Ref = Field(default_factory=Ref)
    environment: Ref = Field(default_factory=Ref)
    service: Ref = Field(default_factory=Ref)
    deployment: LegacyDeployment = Field(default_factory=LegacyDeployment)


class Resource(_Wire):
    project: Ref = Field(default_factory=Ref)
    environment: Ref = Field(default_factory=Ref)
    service: Ref | None = None  # absent from the Test Webhook button's body
    deployment: Ref | None = None


class Details(_Wire):
    """Deployment details; alert events put their own (undocumented) fields here too."""

    model_config = ConfigDict(extra="allow")

    id: Text = ""
    status: Text = ""  # the deployment's state when sent; the docs show it disagreeing with `type`
    branch: str | None = None
    commitHash: str | None = None  # noqa: N815
    commitMessage: str | None = None  # noqa: N815


class Event(_Wire):
    type: Text  # "Deployment.failed", "Deployment.oomKilled", "<Alert kind>.triggered", ...
    details: Details | None = None
    resource: Resource = Field(default_factory=Resource)
    severity: Text = ""
    timestamp: Text = ""


class Other(_Wire):
    type: Text


def shape(body: Any) -> str | None:
    kind = body.get("type") if isinstance(body, dict) else getattr(body, "type", None)
    if not isinstance(kind, str):
        return None  # pydantic then reports that `type` is missing
    if kind == "DEPLOY":
        return "<legacy>"
    return "<event>" if "." in kind else "<other>"  # tags are written <tag>: describe() drops them


PAYLOAD: TypeAdapter[LegacyDeploy | Event | Other] = TypeAdapter(
    Annotated[
        Annotated[LegacyDeploy, Tag("<legacy>")]
        | Annotated[Event, Tag("<event>")]
        | Annotated[Other, Tag("<other>")],
        Discriminator(
            shape,
            custom_error_type="object",
            custom_error_message="Input should be a JSON object with a string `type`",
        ),
    ]
)
