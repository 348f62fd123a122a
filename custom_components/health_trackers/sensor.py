"""Sensors: whatever the account's provider describes, read from the coordinator's data."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN, SensorEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import ATTR_MEASURED_AT, CONF_PERSONAL_DATA, DOMAIN, MAX_TEXT_LENGTH
from .coordinator import HealthTrackersConfigEntry, HealthTrackersCoordinator
from .entity import HealthTrackersEntity, entity_unique_id
from .provider import HealthTrackersSensorDescription, SensorValue

# The coordinator does all I/O.
PARALLEL_UPDATES = 0


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

    entity_description: HealthTrackersSensorDescription[Any]

    def __init__(
        self,
        coordinator: HealthTrackersCoordinator[Any],
        description: HealthTrackersSensorDescription[Any],
    ) -> None:
        """Describe the sensor."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> SensorValue:
        """The description's value of the coordinator's snapshot, as a state can hold it.

        Text is cut to 255 characters. A number (already in the unit shown) keeps one digit
        more than it is shown with: what the services measure survives, the float noise of a
        conversion (113.533333333333 min) does not.
        """
        value = self.entity_description.value_fn(self.coordinator.data)
        if isinstance(value, str):
            return value[:MAX_TEXT_LENGTH]
        digits = self.entity_description.suggested_display_precision
        if isinstance(value, float) and digits is not None:
            return round(value, digits + 1)
        return value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """When the value was measured, if earlier than the latest measurement."""
        measured_at = self.entity_description.measured_at_fn(self.coordinator.data)
        return {ATTR_MEASURED_AT: measured_at.isoformat()} if measured_at else None
