"""Sensors: whatever the account's provider describes, read from the coordinator's data."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import (
    DOMAIN as SENSOR_DOMAIN,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_PERSONAL_DATA, DOMAIN
from .coordinator import HealthTrackersConfigEntry, HealthTrackersCoordinator
from .entity import HealthTrackersEntity, entity_unique_id
from .provider import SensorValue

# The coordinator does all I/O.
PARALLEL_UPDATES = 0

ATTR_MEASURED_AT = "measured_at"
MAX_STATE_LENGTH = 255
"""Home Assistant refuses longer states (the sensor would show unknown and log every poll)."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HealthTrackersConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One sensor per description the provider hands us; personal ones only if the user opted in."""
    coordinator = entry.runtime_data
    provider = coordinator.provider
    descriptions = provider.sensors
    if entry.options.get(CONF_PERSONAL_DATA):
        descriptions += provider.personal_sensors
    else:
        # Opting out removes them, so their last state leaves the recorder's current view too.
        registry = er.async_get(hass)
        for description in provider.personal_sensors:
            unique_id = entity_unique_id(coordinator, description.key)
            if entity_id := registry.async_get_entity_id(SENSOR_DOMAIN, DOMAIN, unique_id):
                registry.async_remove(entity_id)
    async_add_entities(
        HealthTrackersSensor(coordinator, description) for description in descriptions
    )


class HealthTrackersSensor(HealthTrackersEntity, SensorEntity):
    """A value the service reports; unknown while it has none."""

    def __init__(
        self, coordinator: HealthTrackersCoordinator, description: SensorEntityDescription
    ) -> None:
        """Describe the sensor."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> SensorValue:
        """The coordinator's value for this key, as a state can hold it.

        Text is cut to 255 characters. A number (already in the unit shown) keeps one digit
        more than it is shown with: what the services measure survives, the float noise of a
        conversion (113.533333333333 min) does not.
        """
        value = self.coordinator.data.values.get(self.entity_description.key)
        if isinstance(value, str):
            return value[:MAX_STATE_LENGTH]
        digits = self.entity_description.suggested_display_precision
        if isinstance(value, float) and digits is not None:
            return round(value, digits + 1)
        return value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """When the value was measured, if earlier than the latest measurement."""
        measured_at = self.coordinator.data.measured_at.get(self.entity_description.key)
        return {ATTR_MEASURED_AT: measured_at.isoformat()} if measured_at else None
