"""Config flow: pick a service, pick (or add) that service's credential, sign in, done.

Several OAuth 2.0 services share this domain's application credentials, so the flow decides
which stored credential belongs to which service: one already used by an entry of a service
belongs to it, one named after a service belongs to that one, and any other may be chosen by
hand but is never picked automatically.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
import logging
from typing import Any

from aiohttp import ClientError, ClientResponseError
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_RECONFIGURE, ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.config_entry_oauth2_flow import (
    AbstractOAuth2FlowHandler,
    AbstractOAuth2Implementation,
    async_get_implementations,
)
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType

from .api import ServiceApi
from .compat import REFUSED, vol
from .const import CONF_SERVICE, DOMAIN, LOGGER
from .exceptions import AuthenticationError, ServiceError
from .oauth2 import BearerToken, OAuth2Credential, ServiceOAuth2Implementation
from .provider import Provider
from .providers import PROVIDERS

CONF_IMPLEMENTATION = "implementation"
CONF_LINKED_USERNAME = "linked_username"
LINKED = "_linked"

# Menu step → (provider, signs in as a linked account): every service, plus the linked-account
# way for services that offer it.
_MENU_STEPS: dict[str, tuple[Provider, bool]] = {
    f"async_step_{provider.service}{suffix}": (provider, linked)
    for provider in PROVIDERS.values()
    if provider.oauth2 is not None
    for suffix, linked in (("", False), (LINKED, True))
    if not linked or provider.oauth2.password_grant
}


class HealthTrackersConfigFlow(AbstractOAuth2FlowHandler, domain=DOMAIN):
    """Add or re-authenticate one account of one service."""

    DOMAIN = DOMAIN
    VERSION = 1

    provider: Provider
    linked = False
    """Whether the account signs in as a partner app's linked account (password grant)."""

    @property
    def logger(self) -> logging.Logger:
        """Logger the OAuth2 helper writes to."""
        return LOGGER

    def __getattr__(self, name: str) -> Callable[..., Awaitable[ConfigFlowResult]]:
        """``async_step_<service>``: the step each menu entry leads to, for every provider.

        Generated rather than written out, so a new service is one provider module.
        """
        if name in _MENU_STEPS:
            return partial(self._async_step_service, *_MENU_STEPS[name])
        raise AttributeError(name)

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which service the account is with (and, for some, which way to sign in)."""
        return self.async_show_menu(
            step_id="user", menu_options=[name.removeprefix("async_step_") for name in _MENU_STEPS]
        )

    async def _async_step_service(
        self, provider: Provider, linked: bool, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        self.provider, self.linked = provider, linked
        return await self.async_step_pick_implementation()

    async def async_step_pick_implementation(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer only credentials that may belong to the chosen service."""
        candidates = {
            key: implementation
            for key, implementation in (await async_get_implementations(self.hass, DOMAIN)).items()
            if self._credential_service(key, implementation) in (None, self.provider.service)
        }
        if user_input is not None and (chosen := candidates.get(user_input[CONF_IMPLEMENTATION])):
            self.flow_impl = chosen
            return await self._async_sign_in()
        if not candidates:
            # The frontend answers this by opening the add-credential dialog.
            return self.async_abort(reason="missing_credentials")
        if len(candidates) == 1:
            key, only = next(iter(candidates.items()))
            if self._credential_service(key, only) == self.provider.service:
                self.flow_impl = only
                return await self._async_sign_in()
        return self.async_show_form(
            step_id="pick_implementation",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_IMPLEMENTATION): vol.In(
                        {key: implementation.name for key, implementation in candidates.items()}
                    )
                }
            ),
            description_placeholders={"service": self.provider.name},
        )

    def _credential_service(
        self, key: str, implementation: AbstractOAuth2Implementation
    ) -> str | None:
        """The service a stored credential belongs to, or None when we cannot tell."""
        for entry in self._async_current_entries(include_ignore=False):
            if entry.data.get("auth_implementation") == key:
                return str(entry.data[CONF_SERVICE])
        named = [
            service
            for service, provider in PROVIDERS.items()
            if provider.oauth2 is not None
            and provider.name.casefold() in implementation.name.casefold()
        ]
        return named[0] if len(named) == 1 else None

    async def _async_sign_in(self) -> ConfigFlowResult:
        """Bind the picked credential to the service, then sign in the chosen way."""
        assert isinstance(self.flow_impl, OAuth2Credential)
        self.flow_impl = self.flow_impl.for_provider(self.provider)
        if self.linked:
            return await self.async_step_linked_account()
        return await self.async_step_auth()

    async def async_step_linked_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A partner app's linked account: its external username and secret, checked at once."""
        assert isinstance(self.flow_impl, ServiceOAuth2Implementation)
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                token = await self.flow_impl.async_password_grant(
                    user_input[CONF_USERNAME], user_input[CONF_PASSWORD]
                )
            except ClientResponseError as err:
                errors["base"] = (
                    "invalid_linked_account" if err.status in REFUSED else "cannot_connect"
                )
            except (ClientError, TimeoutError):
                errors["base"] = "cannot_connect"
            else:
                return await self.async_oauth_create_entry(
                    {
                        "auth_implementation": self.flow_impl.domain,
                        "token": token,
                        CONF_LINKED_USERNAME: user_input[CONF_USERNAME],
                    }
                )
        username = (
            user_input[CONF_USERNAME]
            if user_input
            else self._existing_entry_data().get(CONF_LINKED_USERNAME, "")
        )
        return self.async_show_form(
            step_id="linked_account",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_USERNAME, default=username): TextSelector(),
                    vol.Required(CONF_PASSWORD): TextSelector(
                        TextSelectorConfig(type=TextSelectorType.PASSWORD)
                    ),
                }
            ),
            errors=errors,
            description_placeholders={"service": self.provider.name},
        )

    def _existing_entry_data(self) -> Mapping[str, Any]:
        """The data of the entry being re-authenticated or reconfigured; empty for a new one."""
        if self.source == SOURCE_REAUTH:
            return self._get_reauth_entry().data
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_entry().data
        return {}

    async def async_oauth_create_entry(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Ask the service whose account this is, then create or update the entry."""
        client = self.provider.client_factory(
            ServiceApi(
                async_get_clientsession(self.hass),
                self.provider.origin,
                BearerToken(data["token"]["access_token"]),
            )
        )
        try:
            account = await client.async_get_account()
        except AuthenticationError:
            return self.async_abort(reason="invalid_auth")
        except ServiceError as err:
            LOGGER.warning("Could not identify the %s account: %s", self.provider.name, err)
            return self.async_abort(reason="cannot_connect")
        await self.async_set_unique_id(f"{self.provider.service}_{account.id}")
        data = {**data, CONF_SERVICE: self.provider.service}
        if self.source in (SOURCE_REAUTH, SOURCE_RECONFIGURE):
            self._abort_if_unique_id_mismatch(reason="wrong_account")
            entry = (
                self._get_reauth_entry()
                if self.source == SOURCE_REAUTH
                else self._get_reconfigure_entry()
            )
            return self.async_update_reload_and_abort(entry, data_updates=data)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=account.title, data=data)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The service refused our tokens: sign in to the same account again."""
        self.provider = PROVIDERS[entry_data[CONF_SERVICE]]
        self.linked = CONF_LINKED_USERNAME in entry_data
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Explain, then reuse the entry's credential."""
        entry = self._get_reauth_entry()
        if user_input is None:
            return self.async_show_form(
                step_id="reauth_confirm",
                description_placeholders={"service": self.provider.name, "account": entry.title},
            )
        return await self.async_step_pick_implementation(
            {CONF_IMPLEMENTATION: entry.data["auth_implementation"]}
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign the same account in again, with a credential of the user's choice."""
        entry_data = self._get_reconfigure_entry().data
        self.provider = PROVIDERS[entry_data[CONF_SERVICE]]
        self.linked = CONF_LINKED_USERNAME in entry_data
        return await self.async_step_pick_implementation()
