"""OAuth 2.0: application credentials shared by several services, each bound to one service's URLs.

Application credentials know only a client id and secret. A stored credential becomes an
``OAuth2Credential``; once the flow (or a config entry) knows the service, ``for_provider`` gives
the implementation with that service's authorize and token URLs and token-request style.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
import hashlib
from http import HTTPStatus
import json
import math
import time
from typing import Any

from aiohttp import (
    ClientError,
    ClientPayloadError,
    ClientResponseError,
    RequestInfo,
)
from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.config_entries import ConfigEntry, UnknownEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.config_entry_oauth2_flow import (
    OAuth2Session,
    async_get_implementations,
)
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from yarl import URL

from .clients.api import ACCEPT_ENCODING, REQUEST_TIMEOUT, read_limited, retry_after_seconds
from .clients.exceptions import (
    AuthenticationError,
    InvalidResponseError,
    RateLimitedError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from .compat import REFUSED, ImplementationUnavailableError, token_request_error
from .const import DOMAIN, LOGGER
from .oauth1 import browser_url
from .oauth2_redirect import CALLBACK_PATH, async_begin_sign_in
from .provider import OAuth2Settings, Provider

MAX_TOKEN_ANSWER_BYTES = 64 * 1024
"""A token answer is a few hundred bytes; anything past this is refused unread."""
MAX_TOKEN_LIFETIME = timedelta(days=366)
"""A longer ``expires_in`` is not believed (see ``_checked``)."""
JOURNAL_VERSION = 1
JOURNAL_KEPT = timedelta(seconds=30)
"""How long a rotated refresh token stays in the journal: well past the entry's own write."""


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

    async def async_client_credentials_grant(self) -> dict[str, Any]:
        """A token for the application itself, with the credential's client id and secret."""
        token = await self._token_request({"grant_type": "client_credentials"})
        token["expires_at"] = time.time() + token["expires_in"]
        return token

    async def _async_refresh_token(self, token: dict[str, Any]) -> dict[str, Any]:
        """A fresh access token: refreshed, or for an application a new one of its own."""
        if self.settings.application_access:
            return await self._token_request({"grant_type": "client_credentials"})
        return await super()._async_refresh_token(token)

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
            return json.loads(body)
        except (ValueError, RecursionError):
            raise ClientPayloadError("token answer is not JSON") from None

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
        return token


def _error_code(body: bytes) -> str:
    """The OAuth ``error`` code of a failed token answer, for logs (never the whole body)."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return "no error code"
    error = answer.get("error", "no error code") if isinstance(answer, dict) else "no error code"
    return str(error)[:100]


class EntryRemovedError(Exception):
    """The entry was deleted while its token was being refreshed: the answer has no home."""


def _digest(secret: str) -> str:
    """A short fingerprint of a token, to recognise it without keeping it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


class RefreshTokenJournal:
    """A rotated refresh token, on disk the moment it arrives.

    Home Assistant writes config entries a second after they change; a service that rotates
    refresh tokens has already invalidated the old one, so a crash in that second would lose the
    sign-in. The new token is written here at once (a private store of the entry), and read back
    at setup when the entry still holds the token it replaced. It is deleted once the entry has
    surely been written (``JOURNAL_KEPT`` later), or at setup when the entry already has it.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """The entry's journal; nothing is read or written yet."""
        self._hass = hass
        self._store: Store[dict[str, str]] = Store(
            hass, JOURNAL_VERSION, f"{DOMAIN}.{entry_id}.refresh_token", private=True
        )
        self._cancel_removal: CALLBACK_TYPE | None = None

    async def async_record(self, replaced: str, refresh_token: str) -> None:
        """Keep ``refresh_token``, which replaces ``replaced``, durably now."""
        await self._store.async_save(
            {"refresh_token": refresh_token, "replaces": _digest(replaced)}
        )
        self._remove_later()

    async def async_recover(self, token: dict[str, Any]) -> dict[str, Any] | None:
        """The entry's token with the newer refresh token, if the entry missed its rotation."""
        journal = await self._store.async_load()
        current = token.get("refresh_token")
        if not journal or not current or journal.get("replaces") != _digest(current):
            if journal:
                # The entry has it (perhaps only in memory, written a second from now), or the
                # journal is older still: it goes once the entry has surely been written.
                self._remove_later()
            return None
        self._remove_later()
        # The access token that came with it is gone too: refresh at the first request.
        return {**token, "refresh_token": journal["refresh_token"], "expires_at": 0}

    async def async_remove(self) -> None:
        """The entry is gone: so is its journal."""
        self.async_cancel()
        await self._store.async_remove()

    @callback
    def async_cancel(self) -> None:
        """Stop the pending removal (the entry unloads); a restart reads the journal again."""
        if self._cancel_removal is not None:
            self._cancel_removal()
            self._cancel_removal = None

    def _remove_later(self) -> None:
        self.async_cancel()

        @callback
        def remove(_: datetime) -> None:
            self._cancel_removal = None
            self._hass.async_create_background_task(
                self._store.async_remove(), f"{DOMAIN} refresh token journal removal"
            )

        self._cancel_removal = async_call_later(self._hass, JOURNAL_KEPT, remove)


class OAuth2Authenticator:
    """Bearer tokens from a config entry's OAuth2Session, refreshed when they are about to expire."""

    def __init__(self, session: OAuth2Session, journal: RefreshTokenJournal) -> None:
        """Wrap the session; rotated refresh tokens go to ``journal`` at once."""
        self._session = session
        self._journal = journal

    async def async_authorization(self, method: str, url: URL) -> str:
        """A valid bearer token; a refused refresh means the user must sign in again."""
        replaced = self._session.token.get("refresh_token")
        try:
            await self._session.async_ensure_token_valid()
        except ClientResponseError as err:
            if err.status in REFUSED:
                raise AuthenticationError(f"token refresh refused ({err.status})") from err
            if err.status == HTTPStatus.TOO_MANY_REQUESTS:
                header = err.headers.get("Retry-After") if err.headers else None
                retry_after = retry_after_seconds(header)
                raise RateLimitedError("token refresh answered 429", retry_after) from err
            raise ServiceUnavailableError(f"token refresh answered {err.status}") from err
        except TimeoutError as err:
            raise ServiceTimeoutError("token refresh timed out") from err
        except ClientError as err:
            raise ServiceUnavailableError(f"token refresh failed ({type(err).__name__})") from err
        except UnknownEntry as err:
            raise EntryRemovedError from err
        refresh_token = self._session.token.get("refresh_token")
        if replaced and refresh_token and refresh_token != replaced:
            await self._journal.async_record(replaced, refresh_token)
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
    hass: HomeAssistant, entry: ConfigEntry, provider: Provider[Any, Any]
) -> ServiceOAuth2Implementation:
    """The entry's stored credential bound to its service.

    A credential that is gone asks the user to sign in again (and pick another), as Home
    Assistant itself does from 2026.3 on.
    """
    try:
        implementations = await async_get_implementations(hass, DOMAIN)
    except ImplementationUnavailableError as err:
        # A credential provider (Home Assistant Cloud) is down: the credential may come back.
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="credential_unavailable"
        ) from err
    credential = implementations.get(entry.data["auth_implementation"])
    if not isinstance(credential, OAuth2Credential):
        raise ConfigEntryAuthFailed(translation_domain=DOMAIN, translation_key="credential_missing")
    return credential.for_provider(provider)
