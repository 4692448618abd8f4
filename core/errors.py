"""The error tree. Routes map SourceError to 4xx and StoreUnavailable to 503; jobs map the rest.

* PlantaoError
  x SourceError             -> HTTP 4xx at the webhook, nothing written
    + BadCredentials          401
    + Forbidden               403 (an operator token whose role may not do that)
    + StaleRequest            400 (a signed delivery's timestamp is missing, malformed or too old)
    + PayloadTooLarge         413
    + UnparseablePayload      422 (the message names the field)
  x StoreUnavailable        -> HTTP 503 (the sender retries), job retried by the queue
  x InvalidTransition       -> HTTP 409, nothing changed
  x UnknownIncident         -> HTTP 404
  x ConfigError             -> start-up fails naming the file and the reason
  x TransientError          -> the job is retried with a back-off
    + NotifyFailed            Slack or the webhook did not take the message
    + PlatformUnavailable     Railway or the monitored Postgres timed out, 5xx, unreachable
  x PlatformRefused         -> the platform said no (GraphQL error, 4xx, permission): not retried
"""


class PlantaoError(Exception):
    """Root of every error plantão raises on purpose."""


class SourceError(PlantaoError):
    status_code = 400


class BadCredentials(SourceError):
    status_code = 401


class StaleRequest(SourceError):
    """The delivery's timestamp is missing, not a time, or outside the allowed clock skew."""

    status_code = 400


class PayloadTooLarge(SourceError):
    status_code = 413


class UnparseablePayload(SourceError):
    status_code = 422


class StoreUnavailable(PlantaoError):
    """Redis could not be reached or written: nothing may be acknowledged."""


class InvalidTransition(PlantaoError):
    """The incident cannot make that state change now; the message says why (HTTP 409)."""


class UnknownIncident(PlantaoError):
    """No incident has that id (HTTP 404)."""


class ConfigError(PlantaoError):
    """PLANTAO_CONFIG or the environment is unusable; the message says where and why."""


class TransientError(PlantaoError):
    """Worth retrying later."""


class NotifyFailed(TransientError):
    """Slack (or the console) did not accept a message."""


class PlatformUnavailable(TransientError):
    """Railway's API or the monitored database did not answer in time, or answered 5xx/429."""


class PlatformRefused(PlantaoError):
    """The platform understood the request and said no; retrying would get the same answer."""


class Forbidden(SourceError):
    """The token is valid but its role may not do this (HTTP 403); nothing changed."""

    status_code = 403
