"""Config flow: pick a service, sign in the way it signs in, then create or update the entry.

The sign-in ways live beside this module: ``flow_oauth2`` (a service's application credential,
its sign-in page or a partner app's linked account) and ``flow_oauth1`` (a consumer key and the
OAuth 1.0a dance). What they share ends here: naming the account, reauth and reconfigure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlowResult,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.selector import BooleanSelector

from .clients.api import Authenticator
from .clients.base import Account
from .clients.exceptions import AuthenticationError, MissingScopeError, ServiceError
from .compat import OptionsFlowWithReload, vol
from .const import CONF_PERSONAL_DATA, CONF_SERVICE, DOMAIN, LOGGER
from .flow_base import CONF_LINKED_USERNAME
from .flow_oauth1 import CONF_MANUAL_CODE, OAuth1Steps
from .flow_oauth2 import CONF_IMPLEMENTATION, OAuth2Steps
from .oauth1 import CONF_CONSUMER_KEY, CONF_CONSUMER_SECRET
from .providers import PROVIDERS

MENU = ("bactrack", "boditrax", "boditrax_linked", "boditrax_facility", "sporttracks")
"""The ways in, one step each below: a provider, or a service's other way of signing in."""


class HealthTrackersConfigFlow(OAuth1Steps, OAuth2Steps, domain=DOMAIN):
    """Add, re-authenticate or reconfigure one account of one service."""

    VERSION = 1
    MINOR_VERSION = 2

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> HealthTrackersOptionsFlow:
        """Whether to show personal details."""
        return HealthTrackersOptionsFlow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Only services with personal sensors have options; polling follows the service."""
        provider = PROVIDERS.get(config_entry.data.get(CONF_SERVICE, ""))
        return provider is not None and bool(provider.personal_sensors)

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which service the account is with (and, for some, which way to sign in)."""
        return self.async_show_menu(step_id="user", menu_options=list(MENU))

    async def async_step_bactrack(self, user_input: None = None) -> ConfigFlowResult:
        """A BACtrack user."""
        return await self._async_start("bactrack")

    async def async_step_boditrax(self, user_input: None = None) -> ConfigFlowResult:
        """A Boditrax member, signing in on Boditrax's page."""
        return await self._async_start("boditrax")

    async def async_step_boditrax_linked(self, user_input: None = None) -> ConfigFlowResult:
        """A partner app's user linked to Boditrax."""
        return await self._async_start("boditrax", linked=True)

    async def async_step_boditrax_facility(self, user_input: None = None) -> ConfigFlowResult:
        """A gym: its Boditrax app signs in as itself and reads the facility's statistics."""
        return await self._async_start("boditrax_facility")

    async def async_step_sporttracks(self, user_input: None = None) -> ConfigFlowResult:
        """A SportTracks user."""
        return await self._async_start("sporttracks")

    async def _async_start(self, key: str, *, linked: bool = False) -> ConfigFlowResult:
        """Sign in to the provider ``key`` the way it signs in."""
        self._provider, self._linked = PROVIDERS[key], linked
        if self._provider.oauth1 is not None:
            return await self.async_step_consumer()
        return await self.async_step_pick_implementation()

    @override
    async def _async_identify(self, auth: Authenticator) -> Account:
        """Ask the service whose account this is; abort when it is not one this flow may use."""
        client = self._provider.client(self.hass, auth)
        placeholders = {"service": self._provider.name}
        try:
            accounts = await client.async_get_accounts()
        except AuthenticationError as err:
            raise AbortFlow("invalid_auth") from err
        except MissingScopeError as err:
            reason = "application_missing_scope" if self._application else "missing_scope"
            raise AbortFlow(reason, placeholders | {"scope": err.scope}) from err
        except ServiceError as err:
            LOGGER.warning("Could not identify the %s account: %s", self._provider.name, err)
            raise AbortFlow("cannot_connect") from err
        if not accounts:
            raise AbortFlow("no_accounts", placeholders)
        account = self._account_to_add(accounts)
        await self.async_set_unique_id(self._provider.unique_id(account))
        if self.source in (SOURCE_REAUTH, SOURCE_RECONFIGURE):
            self._abort_if_unique_id_mismatch(reason="wrong_account")
        else:
            self._abort_if_unique_id_configured()
        return account

    def _account_to_add(self, accounts: list[Account]) -> Account:
        """Of the accounts the credentials reach, the one this flow is about.

        On reauth or reconfigure, the entry's own (if it is still reached). Otherwise the first
        without an entry: credentials that reach several (an application's, one per facility)
        add them one by one, and abort as configured once every one has its entry.
        """
        entry = self._existing_entry()
        wanted = (
            {entry.unique_id}
            if entry is not None
            else {self._provider.unique_id(account) for account in accounts}
            - self._async_current_ids()
        )
        return next(
            (account for account in accounts if self._provider.unique_id(account) in wanted),
            accounts[0],
        )

    @override
    def _async_save(self, account: Account, data: dict[str, Any]) -> ConfigFlowResult:
        """Create the account's entry, or update the one being re-authenticated."""
        data = {**data, CONF_SERVICE: self._provider.key}
        if self.source == SOURCE_REAUTH:
            # Our own words for both, the same on every release.
            return self.async_update_reload_and_abort(
                self._get_reauth_entry(), data_updates=data, reason="reauth_successful"
            )
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data_updates=data, reason="reconfigure_successful"
            )
        return self.async_create_entry(title=self._provider.entry_title(account), data=data)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The service refused our tokens: sign in to the same account again."""
        self._provider = PROVIDERS[entry_data[CONF_SERVICE]]
        self._linked = CONF_LINKED_USERNAME in entry_data
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Explain, then reuse the entry's credential (or OAuth 1.0a consumer).

        An application signs in with the credential's secret alone; if the service refuses it,
        the credential form lets the user pick another one.
        """
        entry = self._get_reauth_entry()
        if user_input is None:
            return self.async_show_form(
                step_id="reauth_application" if self._application else "reauth_confirm",
                description_placeholders={"service": self._provider.name, "account": entry.title},
            )
        if self._provider.oauth1 is not None:
            return await self.async_step_consumer(
                {
                    CONF_CONSUMER_KEY: entry.data[CONF_CONSUMER_KEY],
                    CONF_CONSUMER_SECRET: entry.data[CONF_CONSUMER_SECRET],
                    CONF_MANUAL_CODE: entry.data.get(CONF_MANUAL_CODE, False),
                }
            )
        return await self.async_step_pick_implementation(
            {CONF_IMPLEMENTATION: entry.data["auth_implementation"]}
        )

    async def async_step_reauth_application(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The confirmation of an application's reauth: its own words, the same steps."""
        return await self.async_step_reauth_confirm(user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign the same account in again, with a credential of the user's choice."""
        entry_data = self._get_reconfigure_entry().data
        return await self._async_start(
            entry_data[CONF_SERVICE], linked=CONF_LINKED_USERNAME in entry_data
        )


class HealthTrackersOptionsFlow(OptionsFlowWithReload):
    """Personal details, for services that have them; saving changed options reloads the entry."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One switch: create the sensors that show where and with what notes a value was taken."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        provider = PROVIDERS[self.config_entry.data[CONF_SERVICE]]
        personal = self.config_entry.options.get(CONF_PERSONAL_DATA, False)
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {vol.Required(CONF_PERSONAL_DATA, default=personal): BooleanSelector()}
            ),
            description_placeholders={"service": provider.name},
        )
