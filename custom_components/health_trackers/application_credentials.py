"""Application credentials: one client id and secret per service, side by side in one domain.

A stored credential knows no URLs: it is an ``OAuth2Credential`` until the flow (or a config
entry) knows the service, and ``for_provider`` binds it to that service's authorize and token
URLs, scopes and token-request style. The token requests are hardened: answers read within a size
limit, no redirects, no secret in an error, a token answer checked before Home Assistant keeps it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from http import HTTPStatus
import json
import math
import time
from typing import Any

from aiohttp import ClientPayloadError, ClientResponseError
from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.config_entry_oauth2_flow import (
    AUTH_CALLBACK_PATH,
    MY_AUTH_CALLBACK_PATH,
    AbstractOAuth2Implementation,
)
from homeassistant.helpers.network import NoURLAvailableError
from yarl import URL

from .clients.api import ACCEPT_ENCODING, REQUEST_TIMEOUT, read_limited
from .clients.exceptions import InvalidResponseError
from .compat import token_request_error
from .const import LOGGER, README_URL
from .providers import PROVIDERS
from .providers.base import OAuth2Settings, Provider
from .views import OAUTH2_CALLBACK_PATH, async_begin_sign_in, browser_url

MAX_TOKEN_ANSWER_BYTES = 64 * 1024
"""A token answer is a few hundred bytes; anything past this is refused unread."""
MAX_TOKEN_LIFETIME = timedelta(days=366)
"""A longer ``expires_in`` is not believed (see ``_checked``)."""


async def async_get_auth_implementation(
    hass: HomeAssistant, auth_domain: str, credential: ClientCredential
) -> AbstractOAuth2Implementation:
    """A stored credential; the config flow binds it to the service the user picked."""
    return OAuth2Credential(hass, auth_domain, credential)


def redirect_url(hass: HomeAssistant, settings: OAuth2Settings) -> str:
    """Where the service sends the browser back after a sign-in, as it must be registered.

    Home Assistant's own callback (My Home Assistant's, where it is set up); ours for services
    that may drop ``state``. NoURLAvailableError: neither a browser nor the configuration gives
    Home Assistant's address.
    """
    if settings.may_drop_state:
        return browser_url(hass, OAUTH2_CALLBACK_PATH)
    if "my" in hass.config.components:
        return MY_AUTH_CALLBACK_PATH
    return browser_url(hass, AUTH_CALLBACK_PATH)


async def async_get_description_placeholders(hass: HomeAssistant) -> dict[str, str]:
    """The add-credential dialog: the services, the redirect URL each needs, the README."""
    callbacks: dict[str, str] = {}
    for provider in PROVIDERS.values():
        if provider.oauth2 is not None and provider.oauth2.authorize_path:
            try:
                url = redirect_url(hass, provider.oauth2)
            except NoURLAvailableError:  # no address known: the path, after the user's own
                path = (
                    OAUTH2_CALLBACK_PATH if provider.oauth2.may_drop_state else AUTH_CALLBACK_PATH
                )
                url = f"…{path}"
            callbacks.setdefault(provider.name, url)
    names = dict.fromkeys(p.name for p in PROVIDERS.values() if p.oauth2 is not None)
    return {
        "services": ", ".join(names),
        "callbacks": "; ".join(f"{name}: `{url}`" for name, url in callbacks.items()),
        "readme": README_URL,
    }


class OAuth2Credential(AuthImplementation):
    """A stored application credential, not yet tied to a service; it has no URLs of its own."""

    def __init__(self, hass: HomeAssistant, auth_domain: str, credential: ClientCredential) -> None:
        """Keep the credential to bind it later."""
        super().__init__(hass, auth_domain, credential, AuthorizationServer("", ""))
        self.credential = credential

    def for_provider(self, provider: Provider[Any, Any]) -> ServiceOAuth2Implementation:
        """Bind the credential to ``provider``."""
        return ServiceOAuth2Implementation(self.hass, self.domain, self.credential, provider)


class ServiceOAuth2Implementation(AuthImplementation):
    """A credential bound to one service: its URLs, scopes and token-request encoding."""

    def __init__(
        self,
        hass: HomeAssistant,
        auth_domain: str,
        credential: ClientCredential,
        provider: Provider[Any, Any],
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
        return redirect_url(self.hass, self.settings)

    async def async_generate_authorize_url(self, flow_id: str) -> str:
        """The service's authorize URL; for services that may drop ``state``, our view's.

        Our authorize view sends the browser on to the service's URL with a ``state`` of our own
        instead of Home Assistant's, and remembers the browser (``views``).
        """
        url = await super().async_generate_authorize_url(flow_id)
        if not self.settings.may_drop_state:
            return url
        service_url = URL(url).without_query_params("state")
        return async_begin_sign_in(
            self.hass, flow_id, service_url, service_url.query["redirect_uri"]
        )

    async def _token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        """Code exchange, refresh and the application's grant, encoded as the service wants."""
        data = {**data, "client_id": self.client_id, "client_secret": self.client_secret}
        encoding = "json" if self.settings.token_encoding == "json" else "data"
        return await self._send("POST", data["grant_type"], **{encoding: data})

    async def async_client_credentials_grant(self) -> dict[str, Any]:
        """A token for the application itself, with the credential's client id and secret."""
        return await self._token_request({"grant_type": "client_credentials"})

    async def _async_refresh_token(self, token: dict[str, Any]) -> dict[str, Any]:
        """A fresh access token: refreshed, or for an application a new one of its own."""
        if self.settings.application_access:
            return await self.async_client_credentials_grant()
        return await super()._async_refresh_token(token)

    async def async_password_grant(self, username: str, secret: str) -> dict[str, Any]:
        """Sign in a partner app's linked account: a GET with the app identifier, not its secret."""
        params = {
            "grant_type": "password",
            "client_id": self.client_id,
            "username": username,
            "password": secret,
        }
        return await self._send("GET", "password", params=params)

    async def _send(self, method: str, grant_type: str, **kwargs: Any) -> dict[str, Any]:
        """One token request, its answer checked; errors as Home Assistant's own raise them.

        Never logs the request: its body or query holds secrets. The answer is read within
        ``MAX_TOKEN_ANSWER_BYTES``, however it is compressed.
        """
        session = async_get_clientsession(self.hass)
        async with (
            asyncio.timeout(REQUEST_TIMEOUT),
            session.request(
                method,
                self.token_url,
                headers={"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING},
                # A redirect would carry the secret to wherever it points.
                allow_redirects=False,
                auto_decompress=False,
                **kwargs,
            ) as response,
        ):
            try:
                body = await read_limited(response, MAX_TOKEN_ANSWER_BYTES)
            except InvalidResponseError as err:
                raise ClientPayloadError(f"token answer cannot be read: {err}") from None
            if response.status >= HTTPStatus.BAD_REQUEST:
                LOGGER.debug(
                    "%s token request failed with %s: %s",
                    self.provider.name,
                    response.status,
                    _error_code(body),
                )
            try:
                response.raise_for_status()
            except ClientResponseError as err:
                # The URL's query may hold a linked account's secret: keep it out of the error.
                info = err.request_info
                err.request_info = info._replace(
                    url=info.url.with_query(None), real_url=info.real_url.with_query(None)
                )
                raise token_request_error(err, self.domain) from None
            if response.status >= HTTPStatus.MULTIPLE_CHOICES:
                raise ClientPayloadError(f"token endpoint redirected ({response.status})")
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            raise ClientPayloadError("token answer is not JSON") from None
        return self._checked(answer, grant_type)

    def _checked(self, token: Any, grant_type: str) -> dict[str, Any]:
        """The token answer, with what Home Assistant relies on present and well typed.

        A lifetime that is missing, not a number, not finite, not positive or absurdly long is
        taken as the service's documented one: the token is still good, and losing it would
        lose a refresh token the service may already have rotated.
        """
        if not isinstance(token, dict) or not token.get("access_token"):
            raise ClientPayloadError("token answer has no access_token")
        if grant_type == "client_credentials":
            # The app asks for a new token with its secret; a refresh token would only be one
            # more secret kept in the entry.
            token.pop("refresh_token", None)
        elif not token.get("refresh_token"):
            if grant_type != "refresh_token":
                raise ClientPayloadError("token answer has no refresh_token")
            # A refresh may come back without one: keep the one we have.
            token.pop("refresh_token", None)
        try:
            lifetime = float(token["expires_in"])
        except (KeyError, TypeError, ValueError, OverflowError):
            lifetime = math.nan
        if not 0 < lifetime <= MAX_TOKEN_LIFETIME.total_seconds():  # also NaN and infinity
            lifetime = self.settings.token_lifetime.total_seconds()
        token["expires_in"] = int(lifetime)
        # As Home Assistant's own flow and refresh add it; the grants they do not make need it.
        token["expires_at"] = time.time() + token["expires_in"]
        return token


def _error_code(body: bytes) -> str:
    """The OAuth ``error`` code of a failed token answer, for logs (never the whole body)."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return "no error code"
    error = answer.get("error", "no error code") if isinstance(answer, dict) else "no error code"
    return str(error)[:100]
