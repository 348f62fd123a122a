"""Config-flow steps of OAuth 2.0 services.

The service's credential, then its sign-in page, for partner apps a linked account, or for an
application signing in as itself (a gym's Boditrax app) nothing more.

Several OAuth 2.0 services share this domain's application credentials, so the flow decides
which stored credential belongs to which service: one already used by an entry of a service
belongs to it, one named after a service belongs to that one, and any other may be chosen by
hand but is never picked automatically.
"""

from __future__ import annotations

from typing import Any, override

from aiohttp import ClientError, ClientResponseError
from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.config_entry_oauth2_flow import (
    AbstractOAuth2Implementation,
    async_get_implementations,
)

from .compat import REFUSED, ImplementationUnavailableError, vol
from .const import CONF_SERVICE, DOMAIN, LOGGER
from .flow_base import CONF_LINKED_USERNAME, AccountFlow, name_and_secret
from .oauth2 import BearerToken, OAuth2Credential, ServiceOAuth2Implementation
from .providers import PROVIDERS

CONF_IMPLEMENTATION = "implementation"
SERVICE_OF = {key: provider.service for key, provider in PROVIDERS.items()}
"""Provider key (an entry's ``service``) → the service whose credentials it uses."""


def token_error(err: ClientError | TimeoutError, *, refused: str) -> str:
    """The form error for a failed token request: ``refused`` when the grant was refused."""
    if isinstance(err, ClientResponseError) and err.status in REFUSED:
        return refused
    return "cannot_connect"


class OAuth2Steps(AccountFlow):
    """Pick the service's credential, then sign in on its page, as a linked account or as the app."""

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
        return self.async_show_form(
            step_id="pick_implementation",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_IMPLEMENTATION): vol.In(
                        {key: implementation.name for key, implementation in candidates.items()}
                    )
                }
            ),
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
                owner = str(entry.data[CONF_SERVICE])
                return SERVICE_OF.get(owner, owner)
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
        if self._linked:
            return await self.async_step_linked_account()
        if self.flow_impl.settings.application_access:
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
