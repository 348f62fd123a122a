"""Application credentials: one client id and secret per service, side by side in one domain."""

from homeassistant.components.application_credentials import ClientCredential
from homeassistant.core import HomeAssistant
from homeassistant.helpers.config_entry_oauth2_flow import AbstractOAuth2Implementation

from .oauth2 import OAuth2Credential
from .providers import PROVIDERS


async def async_get_auth_implementation(
    hass: HomeAssistant, auth_domain: str, credential: ClientCredential
) -> AbstractOAuth2Implementation:
    """A stored credential; the config flow binds it to the service the user picked."""
    return OAuth2Credential(hass, auth_domain, credential)


async def async_get_description_placeholders(hass: HomeAssistant) -> dict[str, str]:
    """Name the services in the add-credential dialog."""
    names = dict.fromkeys(p.name for p in PROVIDERS.values() if p.oauth2 is not None)
    return {"services": ", ".join(names)}
