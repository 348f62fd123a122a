"""OAuth 2.0: application credentials shared by several services, each bound to one service's URLs.

Application credentials know only a client id and secret. A stored credential becomes an
``OAuth2Credential``; once the flow (or a config entry) knows the service, ``for_provider`` gives
the implementation with that service's authorize and token URLs and token-request style.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
import time
from typing import Any

from aiohttp import (
    ClientError,
    ClientPayloadError,
    ClientResponse,
    ClientResponseError,
    RequestInfo,
)
from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.config_entry_oauth2_flow import (
    OAuth2Session,
    async_get_implementations,
)
from yarl import URL

from .api import REQUEST_TIMEOUT
from .compat import REFUSED, token_request_error
from .const import DOMAIN, LOGGER
from .exceptions import (
    AuthenticationError,
    RateLimitedError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from .oauth1 import browser_url
from .oauth2_redirect import CALLBACK_PATH, async_begin_sign_in
from .provider import OAuth2Settings, Provider


class OAuth2Credential(AuthImplementation):
    """A stored application credential, not yet tied to a service; it has no URLs of its own."""

    def __init__(self, hass: HomeAssistant, auth_domain: str, credential: ClientCredential) -> None:
        """Keep the credential to bind it later."""
        super().__init__(hass, auth_domain, credential, AuthorizationServer("", ""))
        self.credential = credential

    def for_provider(self, provider: Provider) -> ServiceOAuth2Implementation:
        """Bind the credential to ``provider``."""
        return ServiceOAuth2Implementation(self.hass, self.domain, self.credential, provider)


class ServiceOAuth2Implementation(AuthImplementation):
    """A credential bound to one service: its URLs, scopes and token-request encoding."""

    def __init__(
        self,
        hass: HomeAssistant,
        auth_domain: str,
        credential: ClientCredential,
        provider: Provider,
    ) -> None:
        """Resolve the service's URLs now, from its (possibly overridden) origin."""
        assert provider.oauth2 is not None
        self.settings: OAuth2Settings = provider.oauth2
        super().__init__(
            hass,
            auth_domain,
            credential,
            AuthorizationServer(
                authorize_url=provider.origin + self.settings.authorize_path,
                token_url=provider.origin + self.settings.token_path,
            ),
        )
        self.provider = provider

    @property
    def extra_authorize_data(self) -> dict[str, Any]:
        """Scopes, for services that want them."""
        return {"scope": " ".join(self.settings.scopes)} if self.settings.scopes else {}

    @property
    def redirect_uri(self) -> str:
        """Our callback for services that may drop ``state``; Home Assistant's for the others."""
        if self.settings.may_drop_state:
            return browser_url(self.hass, CALLBACK_PATH)
        return super().redirect_uri

    async def async_generate_authorize_url(self, flow_id: str) -> str:
        """The service's authorize URL; for services that may drop ``state``, our view's.

        Our authorize view adds our own ``state`` and remembers the browser (oauth2_redirect).
        A flow handler's ``extra_authorize_data`` would stay on our URL; ours has none.
        """
        if not self.settings.may_drop_state:
            return await super().async_generate_authorize_url(flow_id)
        redirect_uri = self.redirect_uri
        service_url = (
            URL(self.authorize_url)
            .with_query(
                {"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri}
            )
            .update_query(self.extra_authorize_data)
        )
        return async_begin_sign_in(self.hass, flow_id, service_url, redirect_uri)

    async def _token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        """Code exchange and refresh, encoded as the service wants."""
        data = {**data, "client_id": self.client_id, "client_secret": self.client_secret}
        as_json = self.settings.token_encoding == "json"
        answer = await self._send(
            "POST", json=data if as_json else None, data=None if as_json else data
        )
        return self._checked(answer, data["grant_type"])

    async def async_password_grant(self, username: str, secret: str) -> dict[str, Any]:
        """Sign in a partner app's linked account: a GET with the app identifier, not its secret."""
        params = {
            "grant_type": "password",
            "client_id": self.client_id,
            "username": username,
            "password": secret,
        }
        token = self._checked(await self._send("GET", params=params), "password")
        token["expires_at"] = time.time() + token["expires_in"]
        return token

    async def _send(self, method: str, **kwargs: Any) -> Any:
        """One token-endpoint request; errors as Home Assistant's own token requests raise them.

        Never logs the request: its body or query holds secrets.
        """
        session = async_get_clientsession(self.hass)
        async with (
            asyncio.timeout(REQUEST_TIMEOUT),
            session.request(
                method,
                self.token_url,
                headers={"Accept": "application/json"},
                # A redirect would carry the secret to wherever it points.
                allow_redirects=False,
                **kwargs,
            ) as response,
        ):
            if response.status >= HTTPStatus.BAD_REQUEST:
                LOGGER.debug(
                    "%s token request failed with %s: %s",
                    self.provider.name,
                    response.status,
                    await _error_code(response),
                )
            try:
                response.raise_for_status()
            except ClientResponseError as err:
                # The URL's query may hold a linked account's secret: keep it out of the error.
                info = err.request_info
                clean = ClientResponseError(
                    RequestInfo(
                        info.url.with_query(None),
                        info.method,
                        info.headers,
                        info.real_url.with_query(None),
                    ),
                    err.history,
                    status=err.status,
                    message=err.message,
                    headers=err.headers,
                )
                raise token_request_error(clean, self.domain) from None
            if response.status >= HTTPStatus.MULTIPLE_CHOICES:
                raise ClientPayloadError(f"token endpoint redirected ({response.status})")
            try:
                return await response.json(content_type=None)
            except ValueError as err:
                raise ClientPayloadError("token answer is not JSON") from err

    def _checked(self, token: Any, grant_type: str) -> dict[str, Any]:
        """The token answer, with what Home Assistant relies on present and well typed."""
        if not isinstance(token, dict) or not token.get("access_token"):
            raise ClientPayloadError("token answer has no access_token")
        if not token.get("refresh_token"):
            if grant_type != "refresh_token":
                raise ClientPayloadError("token answer has no refresh_token")
            # A refresh may come back without one: keep the one we have.
            token.pop("refresh_token", None)
        try:
            token["expires_in"] = int(float(token["expires_in"]))
        except (KeyError, TypeError, ValueError):
            token["expires_in"] = int(self.settings.token_lifetime.total_seconds())
        return token


async def _error_code(response: ClientResponse) -> str:
    """The OAuth ``error`` code of a failed token answer, for logs (never the whole body)."""
    try:
        answer = await response.json(content_type=None)
    except (ClientError, ValueError):
        return "no error code"
    return (
        str(answer.get("error", "no error code")) if isinstance(answer, dict) else "no error code"
    )


class OAuth2Authenticator:
    """Bearer tokens from a config entry's OAuth2Session, refreshed when they are about to expire."""

    def __init__(self, session: OAuth2Session) -> None:
        """Wrap the session."""
        self._session = session

    async def async_authorization(self, method: str, url: URL) -> str:
        """A valid bearer token; a refused refresh means the user must sign in again."""
        try:
            await self._session.async_ensure_token_valid()
        except ClientResponseError as err:
            if err.status in REFUSED:
                raise AuthenticationError(f"token refresh refused ({err.status})") from err
            if err.status == HTTPStatus.TOO_MANY_REQUESTS:
                raise RateLimitedError("token refresh answered 429") from err
            raise ServiceUnavailableError(f"token refresh answered {err.status}") from err
        except TimeoutError as err:
            raise ServiceTimeoutError("token refresh timed out") from err
        except ClientError as err:
            raise ServiceUnavailableError(f"token refresh failed ({type(err).__name__})") from err
        return f"Bearer {self._session.token['access_token']}"


class BearerToken:
    """A fixed access token: the one a config flow has just obtained."""

    def __init__(self, access_token: str) -> None:
        """Keep the token."""
        self._access_token = access_token

    async def async_authorization(self, method: str, url: URL) -> str:
        """The token as is."""
        return f"Bearer {self._access_token}"


async def async_get_entry_implementation(
    hass: HomeAssistant, entry: ConfigEntry, provider: Provider
) -> ServiceOAuth2Implementation:
    """The entry's stored credential bound to its service.

    A credential that is gone asks the user to sign in again (and pick another), as Home
    Assistant itself does from 2026.3 on.
    """
    implementations = await async_get_implementations(hass, DOMAIN)
    credential = implementations.get(entry.data["auth_implementation"])
    if not isinstance(credential, OAuth2Credential):
        raise ConfigEntryAuthFailed(translation_domain=DOMAIN, translation_key="credential_missing")
    return credential.for_provider(provider)
