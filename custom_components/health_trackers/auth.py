"""An entry's authenticator: OAuth 1.0a signatures or OAuth 2.0 bearer tokens kept fresh.

What a config entry stores of its sign-in, read back at setup; tokens refreshed as they expire,
a rotated refresh token journaled the moment it arrives. The config flow writes the same data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
import hashlib
from http import HTTPStatus
from typing import Any

from aiohttp import ClientError, ClientResponseError
from homeassistant.config_entries import ConfigEntry, UnknownEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers.config_entry_oauth2_flow import (
    OAuth2Session,
    async_get_implementations,
)
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from yarl import URL

from .application_credentials import OAuth2Credential, ServiceOAuth2Implementation
from .clients.api import Authenticator, retry_after_seconds
from .clients.exceptions import (
    AuthenticationError,
    RateLimitedError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)
from .clients.oauth1 import OAuth1Signer, OAuth1Token
from .compat import REFUSED, ImplementationUnavailableError
from .const import DOMAIN, LOGGER
from .providers.base import Provider

CONF_CONSUMER_KEY = "consumer_key"
CONF_CONSUMER_SECRET = "consumer_secret"
CONF_ACCESS_TOKEN = "access_token"
CONF_ACCESS_TOKEN_SECRET = "access_token_secret"
JOURNAL_VERSION = 1
JOURNAL_KEPT = timedelta(seconds=30)
"""How long a rotated refresh token stays in the journal: well past the entry's own write."""


async def async_authenticator(
    hass: HomeAssistant, entry: ConfigEntry, provider: Provider[Any, Any]
) -> Authenticator:
    """OAuth 1.0a signatures from the stored tokens, or OAuth 2.0 bearer tokens kept fresh."""
    if provider.oauth1 is not None:
        return signer_for_entry(entry.data)
    implementation = await _async_implementation(hass, entry, provider)
    journal = RefreshTokenJournal(hass, entry.entry_id)
    entry.async_on_unload(journal.async_cancel)
    if recovered := await journal.async_recover(entry.data["token"]):
        LOGGER.info(
            "%s: using the refresh token saved just before Home Assistant stopped", entry.title
        )
        hass.config_entries.async_update_entry(entry, data={**entry.data, "token": recovered})
    return OAuth2Authenticator(OAuth2Session(hass, entry, implementation), journal)


def signer_for_entry(data: Mapping[str, Any]) -> OAuth1Signer:
    """The signer for a config entry's stored consumer and access token."""
    return OAuth1Signer(
        data[CONF_CONSUMER_KEY],
        data[CONF_CONSUMER_SECRET],
        OAuth1Token(data[CONF_ACCESS_TOKEN], data[CONF_ACCESS_TOKEN_SECRET]),
    )


async def _async_implementation(
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
