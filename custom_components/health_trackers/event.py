"""Events: one entity per account that fires once for each new record (workout, scan, reading).

Where the service also gives series whole (SportTracks' health metrics), a second entity fires
once for each new measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeassistant.components.event import EventEntity
from homeassistant.const import ATTR_DOMAIN, ATTR_ENTITY_ID, ATTR_NAME, EVENT_LOGBOOK_ENTRY
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .clients.base import Record
from .const import CONF_PERSONAL_DATA, DOMAIN
from .coordinator import HealthTrackersConfigEntry, HealthTrackersCoordinator
from .entity import HealthTrackersEntity
from .feed import RecordFeed
from .providers.base import HealthTrackersEventDescription, RecordField, record_data

# The coordinator does all I/O.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HealthTrackersConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The records' event entity and the measurements' (where the provider has series).

    None for an account without records (a facility).
    """
    coordinator = entry.runtime_data
    provider = coordinator.provider
    entities = []
    if (description := provider.event) is not None:
        personal = bool(entry.options.get(CONF_PERSONAL_DATA))
        fields = (
            *provider.record_fields,
            *description.detail_fields,
            *(description.personal_fields if personal else ()),
        )
        entities.append(HealthTrackersEvent(coordinator, description, coordinator.feed, fields))
    if (measured := provider.measurements) and (feed := coordinator.measurement_feed):
        entities.append(HealthTrackersEvent(coordinator, measured, feed, measured.fields))
    async_add_entities(entities)


class HealthTrackersEvent(HealthTrackersEntity, EventEntity):
    """Fires its event for each record its feed is handed, oldest first, with ``fields``."""

    entity_description: HealthTrackersEventDescription[Any]

    def __init__(
        self,
        coordinator: HealthTrackersCoordinator[Any],
        description: HealthTrackersEventDescription[Any],
        feed: RecordFeed,
        fields: tuple[RecordField[Any], ...],
    ) -> None:
        """Describe the entity; the records of ``feed`` fire it."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._feed = feed
        self._fields = fields

    async def async_get_last_state(self) -> State | None:
        """The entity's state before a restart; none for a new account's entity.

        Its entity id may be that of an entry removed in this run (the same account added
        again), whose last event is not one this entry fired.
        """
        if not self._feed.carried_over:
            return None
        return await super().async_get_last_state()

    async def async_added_to_hass(self) -> None:
        """Fire through this entity from now on, starting with what the setup's poll found.

        A state written while the entity is being added is dropped, so those records are fired
        just after, once the entity stands in the state machine.
        """
        await super().async_added_to_hass()
        self.async_on_remove(self._feed.attach(self._fire))
        self.hass.loop.call_soon(self._feed.deliver)

    @callback
    def _handle_coordinator_update(self) -> None:
        """A poll succeeded: available again (after an outage), then fire what it found.

        In that order, each event is a change from an available state, never from unavailable.
        """
        super()._handle_coordinator_update()
        self._feed.deliver()

    @callback
    def _fire(self, records: Sequence[Record]) -> None:
        """Each record an event, and a logbook line with its values.

        The event's own line in the logbook names only its type ("New scan").
        """
        summary_fn = self.entity_description.summary_fn
        for record in records:
            self._trigger_event(self.entity_description.key, record_data(self._fields, record))
            self.async_write_ha_state()
            state = self.hass.states.get(self.entity_id)
            if summary_fn is not None and state is not None and (line := summary_fn(record)):
                self.hass.bus.async_fire(
                    EVENT_LOGBOOK_ENTRY,
                    {
                        ATTR_NAME: state.name,
                        "message": line,
                        ATTR_DOMAIN: DOMAIN,
                        ATTR_ENTITY_ID: self.entity_id,
                    },
                )
