"""One coordinator class for every service: it polls the provider's client at its interval."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import CONF_UPDATE_INTERVAL, DOMAIN, LOGGER
from .exceptions import AuthenticationError, MissingScopeError, ServiceError
from .provider import Provider, ServiceClient, ServiceData


class HealthTrackersCoordinator(DataUpdateCoordinator[ServiceData]):
    """Fetches one account's values; auth failures start reauth, the rest mark entities unavailable."""

    config_entry: HealthTrackersConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: HealthTrackersConfigEntry,
        provider: Provider,
        client: ServiceClient,
    ) -> None:
        """Poll at the interval the user chose, else the provider's."""
        minutes = entry.options.get(CONF_UPDATE_INTERVAL)
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=timedelta(minutes=minutes) if minutes else provider.update_interval,
        )
        self.provider = provider
        self.client = client
        self.account_id = entry.unique_id or entry.entry_id
        self.options = dict(entry.options)
        """The options this coordinator was built with; others need a reload."""

    async def _async_update_data(self) -> ServiceData:
        """Ask the client; translate its errors into Home Assistant's."""
        placeholders = {"service": self.provider.name}
        try:
            data = await self.client.async_get_data()
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key=err.translation_key,
                translation_placeholders=placeholders,
            ) from err
        except ServiceError as err:
            if isinstance(err, MissingScopeError):
                self._raise_scope_issue(err.scope)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=err.translation_key,
                translation_placeholders={**placeholders, "detail": str(err)},
            ) from err
        ir.async_delete_issue(self.hass, DOMAIN, self._scope_issue_id)
        return data

    @property
    def _scope_issue_id(self) -> str:
        return f"missing_scope_{self.config_entry.entry_id}"

    def _raise_scope_issue(self, scope: str) -> None:
        """A repair the user can act on: ask the service to add the scope to their app."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._scope_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="missing_scope",
            translation_placeholders={
                "service": self.provider.name,
                "scope": scope,
                "account": self.config_entry.title,
            },
        )


HealthTrackersConfigEntry = ConfigEntry[HealthTrackersCoordinator]
