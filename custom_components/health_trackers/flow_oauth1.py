"""Config-flow steps of OAuth 1.0a services (BACtrack).

The app's consumer key, the service's page, then the callback or a verification code typed by
hand. Home Assistant's helpers know OAuth 2.0 only; ``oauth1.py`` holds the dance and the view.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.helpers.selector import BooleanSelector, TextSelector

from .clients.base import Account
from .clients.exceptions import AuthenticationError, ServiceError
from .clients.oauth1 import OOB, OAuth1Dance, OAuth1Token
from .compat import vol
from .const import LOGGER
from .flow_base import AccountFlow, name_and_secret
from .oauth1 import (
    CALLBACK_PATH,
    CONF_ACCESS_TOKEN,
    CONF_ACCESS_TOKEN_SECRET,
    CONF_CONSUMER_KEY,
    CONF_CONSUMER_SECRET,
    REJECTED_STEP,
    SIGNED_IN_STEP,
    async_expect_callback,
    async_forget_flow,
    browser_url,
    oauth1_dance,
    signer_for_entry,
)

CONF_MANUAL_CODE = "manual_code"
CONF_VERIFIER = "verifier"


class OAuth1Steps(AccountFlow):
    """Consumer key and secret, then the request token authorized on the service's page."""

    _dance: OAuth1Dance
    _request_token: OAuth1Token
    _manual_code = False
    """OAuth 1.0a without a callback: the user copies the verifier from the service's page."""
    _access: dict[str, Any]
    """Entry data of the access token, once the callback brought it."""
    _account: Account
    """Whose account the access token signs in, found while the callback waited."""
    _failure: AbortFlow
    """Why signing in failed after the callback: the abort to show."""

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
            self._dance = oauth1_dance(self.hass, self._provider, *consumer)
            self._manual_code = bool(user_input.get(CONF_MANUAL_CODE))
            try:
                return await self._async_authorize()
            except NoURLAvailableError:
                return self._abort_no_url()
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
            description_placeholders={"service": self._provider.name},
        )

    async def _async_authorize(self) -> ConfigFlowResult:
        """Get a request token, then send the user to the service to authorize it."""
        if not self._manual_code:
            callback_url = browser_url(self.hass, CALLBACK_PATH)
            self._request_token = await self._dance.async_request_token(callback_url)
            if self._request_token.callback_confirmed:
                async_expect_callback(self.hass, self._request_token, self.flow_id)
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
        """The flow ended or was closed: its request token resumes nothing any more."""
        async_forget_flow(self.hass, self.flow_id)
