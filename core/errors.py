"""The error tree. Routes map SourceError to 4xx and StoreUnavailable to 503; jobs map the rest.

* PlantaoError
  x SourceError             -> HTTP 4xx at the webhook, nothing written
    + BadCredentials          401
    + PayloadTooLarge         413
    + UnparseablePayload      422 (the message names the field)
  x StoreUnavailable        -> HTTP 503 (the sender retries), job retried by the queue
  x ConfigError             -> start-up fails naming the file and the reason
  x TransientError          -> the job is retried with a back-off
    + NotifyFailed            Slack or the webhook did not take the message
"""


class PlantaoError(Exception):
    """Root of every error plantão raises on purpose."""


class SourceError(PlantaoError):
    status_code = 400


class BadCredentials(SourceError):
    status_code = 401


class PayloadTooLarge(SourceError):
    status_code = 413


class UnparseablePayload(SourceError):
    status_code = 422


class StoreUnavailable(PlantaoError):
    """Redis could not be reached or written: nothing may be acknowledged."""


class ConfigError(PlantaoError):
    """PLANTAO_CONFIG or the environment is unusable; the message says where and why."""


class TransientError(PlantaoError):
    """Worth retrying later."""


class NotifyFailed(TransientError):
    """Slack (or the console) did not accept a message."""
