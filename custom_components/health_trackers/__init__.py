"""Health Trackers: BACtrack, Boditrax and SportTracks accounts as Home Assistant sensors."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.config_entry_oauth2_flow import OAuth2Session

from .api import Authenticator
from .const import CONF_SERVICE
from .coordinator import HealthTrackersConfigEntry, HealthTrackersCoordinator
from .oauth1 import OAuth1Signer
from .oauth2 import OAuth2Authenticator, async_get_entry_implementation
from .provider import Provider
from .providers import PROVIDERS

PLATFORMS: list[Platform] = [Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> bool:
    """Connect the entry's account and fetch its first values."""
    provider = PROVIDERS[entry.data[CONF_SERVICE]]
    client = provider.client(hass, await _async_authenticator(hass, entry, provider))
    coordinator = HealthTrackersCoordinator(hass, entry, provider, client)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_authenticator(
    hass: HomeAssistant, entry: HealthTrackersConfigEntry, provider: Provider
) -> Authenticator:
    """OAuth 1.0a signatures from the stored tokens, or OAuth 2.0 bearer tokens kept fresh."""
    if provider.oauth1 is not None:
        return OAuth1Signer.for_entry(entry.data)
    implementation = await async_get_entry_implementation(hass, entry, provider)
    return OAuth2Authenticator(OAuth2Session(hass, entry, implementation))


async def _async_options_updated(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> None:
    """New options change the poll interval and which sensors exist: reload.

    Token updates also land here; they need no reload.
    """
    if entry.options != entry.runtime_data.options:
        hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> bool:
    """Stop polling and remove the entities."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
