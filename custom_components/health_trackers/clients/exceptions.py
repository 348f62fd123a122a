"""Errors a service client raises; the coordinator and flow map them to Home Assistant's."""


class HealthTrackersError(Exception):
    """Base error of every client."""


class AuthenticationError(HealthTrackersError):
    """The service rejected our credentials: the user has to sign in again."""


class ServiceError(HealthTrackersError):
    """The service could not answer now; the next poll tries again."""


class ServiceUnavailableError(ServiceError):
    """Connection failed or the service answered 5xx."""


class ServiceTimeoutError(ServiceError):
    """The service did not answer in time."""


class RateLimitedError(ServiceError):
    """The service answered 429; ``retry_after``: seconds it asked us to wait, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        """Keep how long to wait."""
        super().__init__(message)
        self.retry_after = retry_after


class MissingScopeError(ServiceError):
    """The service answered 403: the app's credential lacks a scope this data needs."""

    def __init__(self, scope: str) -> None:
        """Name the scope."""
        super().__init__(f"the app's credential lacks the scope {scope}")
        self.scope = scope


class InvalidResponseError(ServiceError):
    """The answer was not what the service's contract promises (status, JSON or shape)."""


class UnexpectedAnswerError(InvalidResponseError):
    """JSON that is not the shape the service's contract promises: what we expected, and where."""

    def __init__(self, endpoint: str, expected: str) -> None:
        """Name the endpoint (ids masked) and what its answer lacked."""
        super().__init__(f"{endpoint} answered without {expected}")
        self.endpoint = endpoint
        self.expected = expected
