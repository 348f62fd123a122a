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
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlowResult,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import callback
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

from .api import Authenticator
from .compat import (
    REFUSED,
    ImplementationUnavailableError,
    OptionsFlowWithReload,
    vol,
)
from .const import CONF_PERSONAL_DATA, CONF_SERVICE, DOMAIN, LOGGER
from .exceptions import AuthenticationError, MissingScopeError, ServiceError
from .oauth1 import (
    CALLBACK_PATH,
    CONF_ACCESS_TOKEN,
    CONF_ACCESS_TOKEN_SECRET,
    CONF_CONSUMER_KEY,
    CONF_CONSUMER_SECRET,
    OOB,
    REJECTED_STEP,
    SIGNED_IN_STEP,
    OAuth1Dance,
    OAuth1Signer,
    OAuth1Token,
    async_expect_callback,
    async_forget_flow,
    browser_url,
)
from .oauth2 import BearerToken, OAuth2Credential, ServiceOAuth2Implementation
from .provider import Provider
from .providers import PROVIDERS

CONF_IMPLEMENTATION = "implementation"
CONF_LINKED_USERNAME = "linked_username"
CONF_MANUAL_CODE = "manual_code"
CONF_VERIFIER = "verifier"
LINKED = "_linked"
NO_URL_HELP = "https://www.home-assistant.io/more-info/no-url-available"

REJECTIONS = frozenset({"access_denied", "invalid_scope", "unauthorized_client"})
"""OAuth ``error`` codes on the way back from the service's page that have their own message;
any other is shown as the service sent it."""

# Menu step → (provider, signs in as a linked account): every service, plus the linked-account
# way for services that offer it.
_MENU_STEPS: dict[str, tuple[Provider, bool]] = {
    f"async_step_{provider.service}{suffix}": (provider, linked)
    for provider in PROVIDERS.values()
    for suffix, linked in (("", False), (LINKED, True))
    if not linked or (provider.oauth2 is not None and provider.oauth2.password_grant)
}


def _name_and_secret(name_key: str, name: str, secret_key: str) -> dict[Any, Any]:
    """Form fields for an identifier, filled in, and its secret, hidden and never filled in."""
    return {
        vol.Required(name_key, default=name): TextSelector(),
        vol.Required(secret_key): TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD)),
    }


class HealthTrackersConfigFlow(AbstractOAuth2FlowHandler, domain=DOMAIN):
    """Add or re-authenticate one account of one service."""

    DOMAIN = DOMAIN
    VERSION = 1
    MINOR_VERSION = 2

    provider: Provider
    linked = False
    """Whether the account signs in as a partner app's linked account (password grant)."""
    dance: OAuth1Dance
    request_token: OAuth1Token
    manual_code = False
    """OAuth 1.0a without a callback: the user copies the verifier from the service's page."""
    _access: dict[str, Any]
    """Entry data of the OAuth 1.0a access token, once the callback brought it."""
    _failure = ""
    """Why trading the verifier failed: the abort reason."""

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
        if provider.oauth1 is not None:
            return await self.async_step_consumer()
        return await self.async_step_pick_implementation()

    async def async_step_pick_implementation(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer only credentials that may belong to the chosen service."""
        try:
            implementations = await async_get_implementations(self.hass, DOMAIN)
        except ImplementationUnavailableError as err:
            LOGGER.debug("No OAuth2 implementation available: %s", err)
            return self.async_abort(reason="oauth_implementation_unavailable")
        candidates = {
            key: implementation
            for key, implementation in implementations.items()
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
            data_schema=vol.Schema(_name_and_secret(CONF_USERNAME, username, CONF_PASSWORD)),
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
        """OAuth 2.0 tokens are in: finish with the new access token."""
        return await self._async_finish(BearerToken(data["token"]["access_token"]), data)

    async def _async_finish(self, auth: Authenticator, data: dict[str, Any]) -> ConfigFlowResult:
        """Ask the service whose account this is, then create or update the entry."""
        client = self.provider.client(self.hass, auth)
        try:
            account = await client.async_get_account()
        except AuthenticationError:
            return self.async_abort(reason="invalid_auth")
        except MissingScopeError as err:
            return self.async_abort(
                reason="missing_scope",
                description_placeholders={"service": self.provider.name, "scope": err.scope},
            )
        except ServiceError as err:
            LOGGER.warning("Could not identify the %s account: %s", self.provider.name, err)
            return self.async_abort(reason="cannot_connect")
        await self.async_set_unique_id(f"{self.provider.service}_{account.id}")
        data = {**data, CONF_SERVICE: self.provider.service}
        if self.source in (SOURCE_REAUTH, SOURCE_RECONFIGURE):
            self._abort_if_unique_id_mismatch(reason="wrong_account")
            if self.source == SOURCE_REAUTH:
                entry, reason = self._get_reauth_entry(), "reauth_successful"
            else:
                entry, reason = self._get_reconfigure_entry(), "reconfigure_successful"
            # Our own words for both, the same on every release.
            return self.async_update_reload_and_abort(entry, data_updates=data, reason=reason)
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
        """Explain, then reuse the entry's credential (or OAuth 1.0a consumer)."""
        entry = self._get_reauth_entry()
        if user_input is None:
            return self.async_show_form(
                step_id="reauth_confirm",
                description_placeholders={"service": self.provider.name, "account": entry.title},
            )
        if self.provider.oauth1 is not None:
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

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign the same account in again, with a credential of the user's choice."""
        entry_data = self._get_reconfigure_entry().data
        return await self._async_step_service(
            PROVIDERS[entry_data[CONF_SERVICE]], CONF_LINKED_USERNAME in entry_data
        )

    # -- OAuth 1.0a --------------------------------------------------------------------------

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
            self.dance = OAuth1Dance(self.hass, self.provider, *consumer)
            self.manual_code = bool(user_input.get(CONF_MANUAL_CODE))
            try:
                return await self._async_authorize()
            except NoURLAvailableError:
                return self.async_abort(
                    reason="no_url_available", description_placeholders={"docs_url": NO_URL_HELP}
                )
            except AuthenticationError:
                errors["base"] = "invalid_consumer"
            except ServiceError as err:
                LOGGER.warning("Could not start signing in to %s: %s", self.provider.name, err)
                errors["base"] = "cannot_connect"
        key = (user_input or self._existing_entry_data()).get(CONF_CONSUMER_KEY, "")
        return self.async_show_form(
            step_id="consumer",
            data_schema=vol.Schema(
                {
                    **_name_and_secret(CONF_CONSUMER_KEY, key, CONF_CONSUMER_SECRET),
                    vol.Optional(CONF_MANUAL_CODE, default=self.manual_code): BooleanSelector(),
                }
            ),
            errors=errors,
            description_placeholders={"service": self.provider.name},
        )

    async def _async_authorize(self) -> ConfigFlowResult:
        """Get a request token, then send the user to the service to authorize it."""
        if not self.manual_code:
            callback_url = browser_url(self.hass, CALLBACK_PATH)
            self.request_token = await self.dance.async_request_token(callback_url)
            if self.request_token.callback_confirmed:
                async_expect_callback(self.hass, self.request_token, self.flow_id)
                return await self.async_step_oauth1_authorize()
            # The service will not call back (OAuth 1.0 behaviour): it shows the verifier instead.
            self.manual_code = True
        self.request_token = await self.dance.async_request_token(OOB)
        return await self.async_step_oauth1_verifier()

    async def async_step_oauth1_authorize(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Wait for the service to send the browser back, then trade the verifier at once.

        The trade happens while the callback view waits, so its page can say whether signing in
        worked. Anything posted here other than the callback (a form submitted twice) shows the
        same link again.
        """
        if user_input is None or not user_input.keys() & {"denied", "oauth_verifier"}:
            return self.async_external_step(
                step_id="oauth1_authorize",
                url=self.dance.authorize_url(self.request_token),
                description_placeholders={"service": self.provider.name},
            )
        if user_input.get("denied"):
            self.external_data = {"error": "access_denied"}
            return self.async_external_step_done(next_step_id=REJECTED_STEP)
        try:
            self._access = await self._async_access_token(str(user_input["oauth_verifier"]))
        except AuthenticationError:
            self._failure = "invalid_auth"
        except ServiceError as err:
            LOGGER.warning("Could not finish signing in to %s: %s", self.provider.name, err)
            self._failure = "cannot_connect"
        else:
            return self.async_external_step_done(next_step_id=SIGNED_IN_STEP)
        return self.async_external_step_done(next_step_id="oauth1_failed")

    async def async_step_authorize_rejected(
        self, data: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The service sent the browser back without access: say why, in words.

        OAuth 2.0 brings the service's ``error`` code; OAuth 1.0a only says the user denied.
        """
        error = str(self.external_data["error"])
        return self.async_abort(
            reason=error if error in REJECTIONS else "authorize_error",
            description_placeholders={"service": self.provider.name, "error": error[:100]},
        )

    async def async_step_oauth1_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The access token is in: identify the account and create or update the entry."""
        return await self._async_finish(OAuth1Signer.for_entry(self._access), self._access)

    async def async_step_oauth1_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The service did not trade the verifier for an access token."""
        return self.async_abort(reason=self._failure)

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
                LOGGER.warning("Could not finish signing in to %s: %s", self.provider.name, err)
                errors["base"] = "cannot_connect"
            else:
                return await self._async_finish(OAuth1Signer.for_entry(data), data)
        return self.async_show_form(
            step_id="oauth1_verifier",
            data_schema=vol.Schema({vol.Required(CONF_VERIFIER): TextSelector()}),
            errors=errors,
            description_placeholders={
                "service": self.provider.name,
                "authorize_url": self.dance.authorize_url(self.request_token),
            },
        )

    async def _async_access_token(self, verifier: str) -> dict[str, Any]:
        """The entry data for the access token the service trades for ``verifier``."""
        access = await self.dance.async_access_token(self.request_token, verifier)
        consumer_key, consumer_secret = self.dance.consumer
        return {
            CONF_CONSUMER_KEY: consumer_key,
            CONF_CONSUMER_SECRET: consumer_secret,
            CONF_ACCESS_TOKEN: access.token,
            CONF_ACCESS_TOKEN_SECRET: access.secret,
            CONF_MANUAL_CODE: self.manual_code,
        }

    @callback
    def async_remove(self) -> None:
        """The flow ended or was closed: its request token resumes nothing any more."""
        async_forget_flow(self.hass, self.flow_id)


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
