"""Health Trackers: BACtrack, Boditrax and SportTracks accounts as Home Assistant sensors."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.config_entry_oauth2_flow import OAuth2Session

from .api import ServiceApi
from .const import CONF_SERVICE
from .coordinator import HealthTrackersConfigEntry, HealthTrackersCoordinator
from .oauth2 import OAuth2Authenticator, async_get_entry_implementation
from .providers import PROVIDERS

PLATFORMS: list[Platform] = [Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> bool:
    """Connect the entry's account and fetch its first values."""
    provider = PROVIDERS[entry.data[CONF_SERVICE]]
    implementation = await async_get_entry_implementation(hass, entry, provider)
    auth = OAuth2Authenticator(OAuth2Session(hass, entry, implementation))
    client = provider.client_factory(
        ServiceApi(async_get_clientsession(hass), provider.origin, auth)
    )
    coordinator = HealthTrackersCoordinator(hass, entry, provider, client)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> bool:
    """Stop polling and remove the entities."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
