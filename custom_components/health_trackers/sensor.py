"""Sensors: whatever the account's provider describes, read from the coordinator's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

from homeassistant.components.sensor import (
    DOMAIN as SENSOR_DOMAIN,
    RestoreSensor,
    SensorExtraStoredData,
)
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import ATTR_MEASURED_AT, CONF_PERSONAL_DATA, DOMAIN, MAX_TEXT_LENGTH
from .coordinator import HealthTrackersConfigEntry, HealthTrackersCoordinator
from .entity import HealthTrackersEntity, entity_unique_id
from .providers.base import HealthTrackersSensorDescription

# The coordinator does all I/O.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HealthTrackersConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One sensor per description the provider hands us; personal ones only if the user opted in.

    Sensors of what the service lists (a facility's machines) come as it first lists each.
    """
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
    if (listed := provider.listed_sensors) is None:
        return
    fixed = {
        entity_unique_id(coordinator, description.key)
        for description in (*provider.sensors, *provider.personal_sensors)
    }
    added: set[str] = set()

    @callback
    def add_listed() -> None:
        """Sensors of what the latest snapshot lists for the first time (none before a poll).

        Those of what it no longer lists leave the entity registry, also those registered
        before a restart: any sensor of the entry that is neither fixed nor listed now.
        """
        if coordinator.data is None or (listing := listed(coordinator.data)) is None:
            return
        now = {description.key: description for description in listing}
        keep = fixed | {entity_unique_id(coordinator, key) for key in now}
        registry = er.async_get(hass)
        for registered in er.async_entries_for_config_entry(registry, entry.entry_id):
            if registered.domain == SENSOR_DOMAIN and registered.unique_id not in keep:
                registry.async_remove(registered.entity_id)
        added.intersection_update(now)
        new = [description for key, description in now.items() if key not in added]
        added.update(description.key for description in new)
        async_add_entities(HealthTrackersSensor(coordinator, description) for description in new)

    add_listed()
    entry.async_on_unload(coordinator.async_add_listener(add_listed))


@dataclass
class StoredSensorData(SensorExtraStoredData):
    """What a sensor keeps across restarts: its value and unit, and when the value was measured."""

    measured_at: str | None = None
    """The ``measured_at`` attribute (ISO 8601), if the sensor had one."""

    def as_dict(self) -> dict[str, Any]:
        """The value and unit as Home Assistant stores them, with ``measured_at``."""
        return super().as_dict() | {ATTR_MEASURED_AT: self.measured_at}

    @classmethod
    def from_dict(cls, restored: dict[str, Any]) -> Self | None:
        """Read back what ``as_dict`` stored (by an earlier version: without ``measured_at``)."""
        if (stored := super().from_dict(restored)) is None:
            return None
        measured_at = restored.get(ATTR_MEASURED_AT)
        stored.measured_at = measured_at if isinstance(measured_at, str) else None
        return stored


class HealthTrackersSensor(HealthTrackersEntity, RestoreSensor):
    """A value the service reports; unknown while it has none.

    Set up while the service did not answer, it shows its value from before the restart until
    the first poll that succeeds; after that, an outage makes it unavailable.
    """

    entity_description: HealthTrackersSensorDescription[Any]

    def __init__(
        self,
        coordinator: HealthTrackersCoordinator[Any],
        description: HealthTrackersSensorDescription[Any],
    ) -> None:
        """Describe the sensor."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._restored: StoredSensorData | None = None

    async def async_added_to_hass(self) -> None:
        """Without a poll yet, show the value from before the restart, if it still holds."""
        await super().async_added_to_hass()
        if self.coordinator.data is None and self.entity_description.restorable:
            self._restored = await self._async_last_value()

    async def _async_last_value(self) -> StoredSensorData | None:
        """The value stored at the last stop, unless another version stored it in another unit.

        A sensor that knew no value then (unavailable since its start) has none to show now
        either: it stays unavailable rather than turn unknown.
        """
        if (last := await self.async_get_last_extra_data()) is None:
            return None
        stored = StoredSensorData.from_dict(last.as_dict())
        if stored is None or stored.native_unit_of_measurement != self.native_unit_of_measurement:
            return None
        if stored.native_value is None:
            state = await self.async_get_last_state()
            if state is None or state.state == STATE_UNAVAILABLE:
                return None
        return stored

    @property
    def available(self) -> bool:
        """Available after a successful poll, and with a restored value until the first one."""
        return super().available or (self.coordinator.data is None and self._restored is not None)

    @property
    def native_value(self) -> StateType | date | datetime | Decimal:
        """The description's value of the coordinator's snapshot, as a state can hold it.

        Text is cut to 255 characters. A number (already in the unit shown) keeps one digit
        more than it is shown with: what the services measure survives, the float noise of a
        conversion (113.533333333333 min) does not. Before the first poll: the restored value.
        """
        if (snapshot := self.coordinator.data) is None:
            return self._restored.native_value if self._restored else None
        value = self.entity_description.value_fn(snapshot)
        if isinstance(value, str):
            return value[:MAX_TEXT_LENGTH]
        digits = self.entity_description.suggested_display_precision
        if isinstance(value, float) and digits is not None:
            return round(value, digits + 1)
        return value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """When the value was measured, if earlier than the latest measurement."""
        measured_at = self._measured_at()
        return {ATTR_MEASURED_AT: measured_at} if measured_at else None

    @property
    def extra_restore_state_data(self) -> StoredSensorData:
        """The value, its unit and when it was measured, for the next start."""
        return StoredSensorData(
            self.native_value, self.native_unit_of_measurement, self._measured_at()
        )

    def _measured_at(self) -> str | None:
        if (snapshot := self.coordinator.data) is None:
            return self._restored.measured_at if self._restored else None
        measured_at = self.entity_description.measured_at_fn(snapshot)
        return measured_at.isoformat() if measured_at else None
