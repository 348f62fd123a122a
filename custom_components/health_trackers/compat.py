"""Differences between the Home Assistant releases we support (2025.4 up to the current one)."""

from aiohttp import ClientResponseError

try:
    # Home Assistant 2026 validates flow forms with probatio, voluptuous' successor.
    import probatio as vol
except ImportError:  # Home Assistant 2025
    import voluptuous as vol  # type: ignore[no-redef]

try:
    from homeassistant.exceptions import (
        OAuth2TokenRequestError,
        OAuth2TokenRequestReauthError,
        OAuth2TokenRequestTransientError,
    )
except ImportError:  # before 2026.3, callers of a token request expect aiohttp's own error

    def token_request_error(err: ClientResponseError, domain: str) -> ClientResponseError:
        """Return the failed token request's error as Home Assistant's own requests raise it."""
        return err

else:

    def token_request_error(err: ClientResponseError, domain: str) -> ClientResponseError:
        """Return the failed token request's error as Home Assistant's own requests raise it.

        ``err`` comes from ``raise_for_status``, so its status is 400 or more.
        """
        transient = err.status == 429 or err.status >= 500
        kind: type[OAuth2TokenRequestError] = (
            OAuth2TokenRequestTransientError if transient else OAuth2TokenRequestReauthError
        )
        return kind(
            request_info=err.request_info,
            history=err.history,
            status=err.status,
            message=err.message,
            headers=err.headers,
            domain=domain,
        )


__all__ = ["token_request_error", "vol"]
