"""Differences between the Home Assistant releases we support (2025.4 up to the current one)."""

from http import HTTPStatus

from aiohttp import ClientResponseError, web
from homeassistant import data_entry_flow
from homeassistant.helpers import config_entry_oauth2_flow

REFUSED = frozenset({HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED})
"""Token-endpoint answers that mean the grant is gone (invalid_grant, invalid_client): reauth."""

# Flow forms must use the schema library Home Assistant's flows are built on.
if hasattr(data_entry_flow, "probatio"):  # 2026: probatio, voluptuous' successor
    import probatio as vol
else:  # 2025: voluptuous
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

        Only a refused grant asks for reauth; anything else (429, 5xx, a proxy's 403) is retried.
        """
        kind: type[OAuth2TokenRequestError] = (
            OAuth2TokenRequestReauthError
            if err.status in REFUSED
            else OAuth2TokenRequestTransientError
        )
        return kind(
            request_info=err.request_info,
            history=err.history,
            status=err.status,
            message=err.message,
            headers=err.headers,
            domain=domain,
        )


def current_request() -> web.Request | None:
    """The HTTP request being served; its ``HA-Frontend-Base`` header is the browser's address.

    Read where Home Assistant's own OAuth2 flow reads it: the context variable lives in
    ``components.http`` up to 2025 and in ``helpers.http`` since, and test harnesses of each
    release stand in for it there.
    """
    request: web.Request | None = config_entry_oauth2_flow.http.current_request.get()  # type: ignore[attr-defined]
    return request


__all__ = ["REFUSED", "current_request", "token_request_error", "vol"]
