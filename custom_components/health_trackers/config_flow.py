"""Config flow, in the order a user meets it: the menu, the service's sign-in, then the entry.

The menu is every provider's ways in (``Provider.ways_in``): a provider added to ``PROVIDERS``
needs no edit here. OAuth 2.0 signs in with the service's application credential (its page, a
partner app's linked account, or the application itself); several services share this domain's
credentials, so one already used by an entry of a service belongs to it, one named after a
service belongs to that one, and any other may be chosen by hand but is never picked for the
user. OAuth 1.0a, which Home Assistant's helpers do not know, takes the app's consumer key, then
the service's page and our callback (``views``), or a code typed by hand. Every way ends alike:
whose account it is, then a new entry or the one being re-authenticated or reconfigured.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
import logging
from typing import Any, override

from aiohttp import ClientError, ClientResponseError
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlowResult,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.config_entry_oauth2_flow import (
    AbstractOAuth2FlowHandler,
    AbstractOAuth2Implementation,
    async_get_implementations,
)
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.helpers.selector import (
    BooleanSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .application_credentials import OAuth2Credential, ServiceOAuth2Implementation
from .auth import (
    CONF_ACCESS_TOKEN,
    CONF_ACCESS_TOKEN_SECRET,
    CONF_CONSUMER_KEY,
    CONF_CONSUMER_SECRET,
    BearerToken,
    signer_for_entry,
)
from .clients.api import Authenticator
from .clients.base import Account
from .clients.exceptions import AuthenticationError, MissingScopeError, ServiceError
from .clients.oauth1 import OOB, OAuth1Dance, OAuth1Token
from .compat import REFUSED, ImplementationUnavailableError, OptionsFlowWithReload, vol
from .const import CONF_PERSONAL_DATA, CONF_PROVIDER, DOMAIN, LOGGER, README_URL
from .providers import PROVIDERS
from .providers.base import Provider, WayIn
from .views import (
    OAUTH1_CALLBACK_PATH,
    REJECTED_STEP,
    SIGNED_IN_STEP,
    async_expect_callback,
    async_forget_flow,
    browser_url,
)

CONF_IMPLEMENTATION = "implementation"
CONF_LINKED_USERNAME = "linked_username"
CONF_MANUAL_CODE = "manual_code"
CONF_VERIFIER = "verifier"
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


def token_error(err: ClientError | TimeoutError, *, refused: str) -> str:
    """The form error for a failed token request: ``refused`` when the grant was refused."""
    if isinstance(err, ClientResponseError) and err.status in REFUSED:
        return refused
    return "cannot_connect"


def _entry_way(entry_data: Mapping[str, Any]) -> WayIn:
    """The way an entry's account signed in: its provider, as a linked account or not."""
    return WayIn(PROVIDERS[entry_data[CONF_PROVIDER]], CONF_LINKED_USERNAME in entry_data)


class HealthTrackersConfigFlow(AbstractOAuth2FlowHandler, domain=DOMAIN):
    """Add, re-authenticate or reconfigure one account of one service."""

    DOMAIN = DOMAIN
    VERSION = 2
    MINOR_VERSION = 1

    _way: WayIn
    """The provider the account is with and how it signs in: chosen in the menu, or the entry's."""
    _dance: OAuth1Dance
    _request_token: OAuth1Token
    _manual_code = False
    """OAuth 1.0a without a callback: the user copies the verifier from the service's page."""
    _access: dict[str, Any]
    """Entry data of the OAuth 1.0a access token, once the callback brought it."""
    _account: Account
    """Whose account the access token signs in, found while the callback waited."""
    _failure: AbortFlow
    """Why signing in failed after the callback: the abort to show."""
    _reauth_again = False
    """A reauth signed in someone else: the entry still needs one, offered again when this ends."""

    @property
    @override
    def logger(self) -> logging.Logger:
        """Logger the OAuth2 helper writes to."""
        return LOGGER

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> HealthTrackersOptionsFlow:
        """Whether to show personal details."""
        return HealthTrackersOptionsFlow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Only services with personal sensors have options; polling follows the service."""
        provider = PROVIDERS.get(config_entry.data.get(CONF_PROVIDER, ""))
        return provider is not None and bool(provider.personal_sensors)

    @property
    def _provider(self) -> Provider[Any, Any]:
        return self._way.provider

    @property
    def _application(self) -> bool:
        """Whether the chosen service's entries sign in as the application itself."""
        return self._provider.oauth2 is not None and self._provider.oauth2.application_access

    # The menu: every provider's ways in.

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which service the account is with; bind each option's step (``_async_start``)."""
        ways = [way for provider in PROVIDERS.values() for way in provider.ways_in]
        for way in ways:
            setattr(self, f"async_step_{way.option}", partial(self._async_start, way))
        return self.async_show_menu(step_id="user", menu_options=[way.option for way in ways])

    async def _async_start(self, way: WayIn, user_input: None = None) -> ConfigFlowResult:
        """Sign in to ``way``'s provider the way it signs in."""
        self._way = way
        if way.provider.oauth1 is not None:
            return await self.async_step_consumer()
        return await self.async_step_pick_implementation()

    # OAuth 2.0: the service's credential, then its page, a linked account or the application.

    @override
    async def async_step_pick_implementation(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer only credentials that may belong to the chosen service."""
        candidates = await self._async_candidates()
        if user_input is not None and (chosen := candidates.get(user_input[CONF_IMPLEMENTATION])):
            return await self._async_sign_in(chosen)
        if not candidates:
            # The frontend answers this by opening the add-credential dialog.
            return self.async_abort(reason="missing_credentials")
        if len(candidates) == 1:
            key, only = next(iter(candidates.items()))
            if self._credential_service(key, only) == self._provider.service:
                return await self._async_sign_in(only)
        return self._credential_form(candidates)

    async def _async_candidates(self) -> dict[str, AbstractOAuth2Implementation]:
        """The stored credentials that may belong to the chosen service, by key."""
        try:
            implementations = await async_get_implementations(self.hass, DOMAIN)
        except ImplementationUnavailableError as err:
            LOGGER.debug("No OAuth2 implementation available: %s", err)
            raise AbortFlow("oauth_implementation_unavailable") from err
        return {
            key: implementation
            for key, implementation in implementations.items()
            if self._credential_service(key, implementation) in (None, self._provider.service)
        }

    def _credential_form(
        self,
        candidates: dict[str, AbstractOAuth2Implementation],
        errors: dict[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Let the user choose among ``candidates`` (again, after ``errors``)."""
        choices = {key: implementation.name for key, implementation in candidates.items()}
        return self.async_show_form(
            step_id="pick_implementation",
            data_schema=vol.Schema({vol.Required(CONF_IMPLEMENTATION): vol.In(choices)}),
            errors=errors,
            description_placeholders={"service": self._provider.name},
        )

    def _credential_service(
        self, key: str, implementation: AbstractOAuth2Implementation
    ) -> str | None:
        """The service a stored credential belongs to, or None when we cannot tell."""
        for entry in self._async_current_entries(include_ignore=False):
            if entry.data.get("auth_implementation") == key:
                # An entry of a provider this version does not know names a service of its own.
                owner = str(entry.data[CONF_PROVIDER])
                return PROVIDERS[owner].service if owner in PROVIDERS else owner
        named = {
            provider.service
            for provider in PROVIDERS.values()
            if provider.oauth2 is not None
            and provider.name.casefold() in implementation.name.casefold()
        }
        return next(iter(named)) if len(named) == 1 else None

    async def _async_sign_in(self, credential: AbstractOAuth2Implementation) -> ConfigFlowResult:
        """Bind the picked credential to the service, then sign in the chosen way."""
        assert isinstance(credential, OAuth2Credential)
        self.flow_impl = credential.for_provider(self._provider)
        if self._way.linked:
            return await self.async_step_linked_account()
        if self._application:
            return await self._async_sign_in_as_application()
        return await self.async_step_auth()

    async def _async_sign_in_as_application(self) -> ConfigFlowResult:
        """The app's own token, with the credential's secret; refused, the user picks again."""
        assert isinstance(self.flow_impl, ServiceOAuth2Implementation)
        try:
            token = await self.flow_impl.async_client_credentials_grant()
        except (ClientError, TimeoutError) as err:
            errors = {"base": token_error(err, refused="invalid_client")}
            return self._credential_form(await self._async_candidates(), errors)
        return await self.async_oauth_create_entry(
            {"auth_implementation": self.flow_impl.domain, "token": token}
        )

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
            except (ClientError, TimeoutError) as err:
                errors["base"] = token_error(err, refused="invalid_linked_account")
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
            data_schema=vol.Schema(name_and_secret(CONF_USERNAME, username, CONF_PASSWORD)),
            errors=errors,
            description_placeholders={"service": self._provider.name},
        )

    @override
    async def async_oauth_create_entry(self, data: dict[str, Any]) -> ConfigFlowResult:
        """OAuth 2.0 tokens are in: finish with the new access token."""
        return await self._async_finish(BearerToken(data["token"]["access_token"]), data)

    async def async_step_authorize_rejected(
        self, data: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The service sent the browser back without access: say why, in words.

        OAuth 2.0 brings the service's ``error`` code; OAuth 1.0a only says the user denied.
        """
        error = str(self.external_data["error"])
        return self.async_abort(
            reason=error if error in REJECTIONS else "authorize_error",
            description_placeholders={
                "service": self._provider.name,
                "error": error[:100],
                "readme": README_URL,
            },
        )

    # OAuth 1.0a: the app's consumer key, the service's page, the callback or a typed code.

    async def async_step_consumer(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The app's consumer key and secret (OAuth 1.0a services have no application credentials)."""
        errors: dict[str, str] = {}
        consumer = (
            (user_input[CONF_CONSUMER_KEY].strip(), user_input[CONF_CONSUMER_SECRET].strip())
            if user_input is not None
            else ("", "")
        )
        if user_input is not None and not all(consumer):
            errors["base"] = "missing_consumer"
        elif user_input is not None:
            assert self._provider.oauth1 is not None
            self._dance = OAuth1Dance(
                async_get_clientsession(self.hass),
                self._provider.origin,
                self._provider.oauth1,
                consumer,
                query=self._provider.client_type.query,
            )
            self._manual_code = bool(user_input.get(CONF_MANUAL_CODE))
            try:
                return await self._async_authorize()
            except NoURLAvailableError:
                return self.async_abort(
                    reason="no_url_available", description_placeholders={"docs_url": NO_URL_HELP}
                )
            except AuthenticationError:
                errors["base"] = "invalid_consumer"
            except ServiceError as err:
                LOGGER.warning("Could not start signing in to %s: %s", self._provider.name, err)
                errors["base"] = "cannot_connect"
        key = (user_input or self._existing_entry_data()).get(CONF_CONSUMER_KEY, "")
        return self.async_show_form(
            step_id="consumer",
            data_schema=vol.Schema(
                {
                    **name_and_secret(CONF_CONSUMER_KEY, key, CONF_CONSUMER_SECRET),
                    vol.Optional(CONF_MANUAL_CODE, default=self._manual_code): BooleanSelector(),
                }
            ),
            errors=errors,
            description_placeholders={"service": self._provider.name, "readme": README_URL},
        )

    async def _async_authorize(self) -> ConfigFlowResult:
        """Get a request token, then send the user to the service to authorize it."""
        if not self._manual_code:
            callback_url = browser_url(self.hass, OAUTH1_CALLBACK_PATH)
            self._request_token = await self._dance.async_request_token(callback_url)
            if self._request_token.callback_confirmed:
                async_expect_callback(self.hass, self._request_token.token, self.flow_id)
                return await self.async_step_oauth1_authorize()
            # The service will not call back (OAuth 1.0 behaviour): it shows the verifier instead.
            self._manual_code = True
        self._request_token = await self._dance.async_request_token(OOB)
        return await self.async_step_oauth1_verifier()

    async def async_step_oauth1_authorize(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Wait for the service to send the browser back, then trade the verifier at once.

        The trade, and finding out whose account it is, happen while the callback view waits, so
        its page can say whether signing in worked. Anything posted here other than the callback
        (a form submitted twice) shows the same link again.
        """
        if user_input is None or not user_input.keys() & {"denied", "oauth_verifier"}:
            return self.async_external_step(
                step_id="oauth1_authorize",
                url=self._dance.authorize_url(self._request_token),
                description_placeholders={"service": self._provider.name},
            )
        if user_input.get("denied"):
            self.external_data = {"error": "access_denied"}
            return self.async_external_step_done(next_step_id=REJECTED_STEP)
        try:
            self._access = await self._async_access_token(str(user_input["oauth_verifier"]))
            self._account = await self._async_identify(signer_for_entry(self._access))
        except AuthenticationError:
            self._failure = AbortFlow("invalid_auth")
        except ServiceError as err:
            LOGGER.warning("Could not finish signing in to %s: %s", self._provider.name, err)
            self._failure = AbortFlow("cannot_connect")
        except AbortFlow as abort:  # the account is not one this flow may add
            self._failure = abort
        else:
            return self.async_external_step_done(next_step_id=SIGNED_IN_STEP)
        return self.async_external_step_done(next_step_id="oauth1_failed")

    async def async_step_oauth1_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Signed in and identified while the callback waited: create or update the entry."""
        return self._async_save(self._account, self._access)

    async def async_step_oauth1_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Signing in did not work: say why (the callback's page already said it did not)."""
        return self.async_abort(
            reason=self._failure.reason,
            description_placeholders=self._failure.description_placeholders,
        )

    async def async_step_oauth1_verifier(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Without a callback: the user opens the service's page and pastes the code it shows."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                data = await self._async_access_token(user_input[CONF_VERIFIER].strip())
            except AuthenticationError:
                errors["base"] = "invalid_verifier"
            except ServiceError as err:
                LOGGER.warning("Could not finish signing in to %s: %s", self._provider.name, err)
                errors["base"] = "cannot_connect"
            else:
                return await self._async_finish(signer_for_entry(data), data)
        return self.async_show_form(
            step_id="oauth1_verifier",
            data_schema=vol.Schema({vol.Required(CONF_VERIFIER): TextSelector()}),
            errors=errors,
            description_placeholders={
                "service": self._provider.name,
                "authorize_url": self._dance.authorize_url(self._request_token),
            },
        )

    async def _async_access_token(self, verifier: str) -> dict[str, Any]:
        """The entry data for the access token the service trades for ``verifier``."""
        access = await self._dance.async_access_token(self._request_token, verifier)
        consumer_key, consumer_secret = self._dance.consumer
        return {
            CONF_CONSUMER_KEY: consumer_key,
            CONF_CONSUMER_SECRET: consumer_secret,
            CONF_ACCESS_TOKEN: access.token,
            CONF_ACCESS_TOKEN_SECRET: access.secret,
            CONF_MANUAL_CODE: self._manual_code,
        }

    @callback
    def async_remove(self) -> None:
        """The flow ended or was closed: its keys resume nothing any more.

        A reauth that signed in another account leaves its entry as broken as before: the reauth
        is offered again, so "Needs attention" stays until the right account signs in.
        """
        async_forget_flow(self.hass, self.flow_id)
        if self._reauth_again and (
            entry := self.hass.config_entries.async_get_entry(self.context["entry_id"])
        ):
            entry.async_start_reauth(self.hass)

    # Every way ends here: whose account it is, then the entry.

    async def _async_finish(self, auth: Authenticator, data: dict[str, Any]) -> ConfigFlowResult:
        """Signed in: identify the account, then create or update the entry."""
        return self._async_save(await self._async_identify(auth), data)

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
            self._reauth_again = (
                self.source == SOURCE_REAUTH
                and self._get_reauth_entry().unique_id != self.unique_id
            )
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

    def _async_save(self, account: Account, data: dict[str, Any]) -> ConfigFlowResult:
        """Create the account's entry, or update the one being re-authenticated."""
        data = {**data, CONF_PROVIDER: self._provider.key}
        if self.source == SOURCE_REAUTH:
            # Our own words for both, the same on every release.
            return self.async_update_reload_and_abort(
                self._get_reauth_entry(), data_updates=data, reason="reauth_successful"
            )
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data_updates=data, reason=self._reconfigured()
            )
        return self.async_create_entry(
            title=self._provider.entry_title(account),
            data=data,
            # An application's entry is not a person's account: its own words.
            description="application_added" if self._application else None,
        )

    def _reconfigured(self) -> str:
        """The words a reconfigure ends with: what was chosen again, in the way it signs in."""
        if self._provider.oauth1 is not None:
            return "reconfigured_consumer"
        if self._way.linked:
            return "reconfigured_linked"
        if self._application:
            return "reconfigured_application"
        return "reconfigure_successful"

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

    # Reauth and reconfigure: the same account, signed in the way it was added.

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The service refused our tokens: sign in to the same account again."""
        self._way = _entry_way(entry_data)
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
        return await self._async_start(_entry_way(self._get_reconfigure_entry().data))


class HealthTrackersOptionsFlow(OptionsFlowWithReload):
    """Personal details, for services that have them; saving changed options reloads the entry."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One switch: create the sensors that show where and with what notes a value was taken."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        personal = self.config_entry.options.get(CONF_PERSONAL_DATA, False)
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {vol.Required(CONF_PERSONAL_DATA, default=personal): BooleanSelector()}
            ),
            description_placeholders={"account": self.config_entry.title},
        )
