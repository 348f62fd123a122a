"""What every sign-in way of the config flow shares: the chosen service and typed flow state."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
import logging
from typing import Any, override

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlowResult,
)
from homeassistant.helpers.config_entry_oauth2_flow import AbstractOAuth2FlowHandler
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType

from .clients.api import Authenticator
from .clients.base import Account
from .compat import vol
from .const import DOMAIN, LOGGER
from .provider import Provider

CONF_LINKED_USERNAME = "linked_username"
NO_URL_HELP = "https://www.home-assistant.io/more-info/no-url-available"

REJECTIONS = frozenset({"access_denied", "invalid_scope", "unauthorized_client"})
"""OAuth ``error`` codes on the way back from the service's page that have their own message;
any other is shown as the service sent it."""


def name_and_secret(name_key: str, name: str, secret_key: str) -> dict[Any, Any]:
    """Form fields for an identifier, filled in, and its secret, hidden and never filled in."""
    return {
        vol.Required(name_key, default=name): TextSelector(),
        vol.Required(secret_key): TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD)),
    }


class AccountFlow(AbstractOAuth2FlowHandler):
    """A flow that signs one account of one service in; the sign-in ways build on it."""

    DOMAIN = DOMAIN

    _provider: Provider[Any, Any]
    """The service the account is with, chosen in the menu or taken from the entry."""
    _linked = False
    """Whether the account signs in as a partner app's linked account (password grant)."""

    @property
    @override
    def logger(self) -> logging.Logger:
        """Logger the OAuth2 helper writes to."""
        return LOGGER

    @abstractmethod
    async def _async_identify(self, auth: Authenticator) -> Account:
        """Whose account ``auth`` signs in; aborts (AbortFlow) when it cannot be used."""

    @abstractmethod
    def _async_save(self, account: Account, data: dict[str, Any]) -> ConfigFlowResult:
        """Create the account's entry, or update the one being re-authenticated."""

    async def _async_finish(self, auth: Authenticator, data: dict[str, Any]) -> ConfigFlowResult:
        """Signed in: identify the account, then create or update the entry."""
        return self._async_save(await self._async_identify(auth), data)

    @property
    def _application(self) -> bool:
        """Whether the chosen service's entries sign in as the application itself."""
        return self._provider.oauth2 is not None and self._provider.oauth2.application_access

    def _existing_entry(self) -> ConfigEntry | None:
        """The entry being re-authenticated or reconfigured; None for a new one."""
        if self.source == SOURCE_REAUTH:
            return self._get_reauth_entry()
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_entry()
        return None

    def _existing_entry_data(self) -> Mapping[str, Any]:
        """The data of the entry being re-authenticated or reconfigured; empty for a new one."""
        entry = self._existing_entry()
        return entry.data if entry is not None else {}

    def _abort_no_url(self) -> ConfigFlowResult:
        """Home Assistant knows no address the service could send the browser back to."""
        return self.async_abort(
            reason="no_url_available", description_placeholders={"docs_url": NO_URL_HELP}
        )

    async def async_step_authorize_rejected(
        self, data: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The service sent the browser back without access: say why, in words.

        OAuth 2.0 brings the service's ``error`` code; OAuth 1.0a only says the user denied.
        """
        error = str(self.external_data["error"])
        return self.async_abort(
            reason=error if error in REJECTIONS else "authorize_error",
            description_placeholders={"service": self._provider.name, "error": error[:100]},
        )
