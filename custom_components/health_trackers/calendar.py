"""The calendar: an account's records as events (its workouts, its scans), read per range.

A range the calendar panel or ``calendar.get_events`` asks for is read from the service in its
largest pages, newest first from the range's end (where the service filters by time), and kept
until the next poll: browsing back and forth costs one read per range, and a new record shows
after the poll that found it. The event in progress (the calendar's state) comes from what the
latest poll holds, without a request.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .clients.base import ServiceClient
from .clients.exceptions import ServiceError
from .const import DOMAIN
from .coordinator import HealthTrackersConfigEntry, HealthTrackersCoordinator, error_message
from .entity import HealthTrackersEntity
from .providers.base import CalendarItem, HealthTrackersCalendarDescription

# The coordinator does the polling; a range's read is the entity's own, one at a time.
PARALLEL_UPDATES = 1
RANGES_KEPT = 24
"""Ranges read since the last poll that are kept (two years of months)."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HealthTrackersConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The provider's calendar; none where the account keeps no records (a facility)."""
    coordinator = entry.runtime_data
    description = coordinator.provider.calendar
    if description is None or not isinstance(coordinator.tracker.client, ServiceClient):
        return
    async_add_entities([HealthTrackersCalendar(coordinator, description)])


def _units(translations: dict[str, str]) -> dict[str, str]:
    """The translated unit of each sensor that has one, by the sensor's key."""
    prefix, suffix = f"component.{DOMAIN}.entity.sensor.", ".unit_of_measurement"
    return {
        key[len(prefix) : -len(suffix)]: text
        for key, text in translations.items()
        if key.startswith(prefix) and key.endswith(suffix)
    }


class _Known(dict[str, str]):
    """A placeholder without a translation stays as it is."""

    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"


class HealthTrackersCalendar(HealthTrackersEntity, CalendarEntity):
    """The account's records of a range, read from the service once per range and poll."""

    entity_description: HealthTrackersCalendarDescription[Any]

    def __init__(
        self,
        coordinator: HealthTrackersCoordinator[Any],
        description: HealthTrackersCalendarDescription[Any],
    ) -> None:
        """Describe the entity; nothing read yet."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._ranges: OrderedDict[tuple[datetime, datetime], list[CalendarItem]] = OrderedDict()
        self._units: dict[str, str] = {}

    async def async_added_to_hass(self) -> None:
        """The words summaries use, in Home Assistant's language."""
        await super().async_added_to_hass()
        translations = await async_get_translations(
            self.hass, self.hass.config.language, "entity", {DOMAIN}
        )
        self._units = _units(translations)

    def _event(self, item: CalendarItem) -> CalendarEvent:
        summary = item.summary.format_map(_Known(self._units))
        return CalendarEvent(start=item.start, end=item.end, summary=summary, uid=item.uid)

    @property
    def event(self) -> CalendarEvent | None:
        """The event in progress, from the records the latest poll holds (none: off)."""
        if self.coordinator.data is None:
            return None
        now = dt_util.utcnow()
        description = self.entity_description
        items = description.items_fn(description.recent_fn(self.coordinator.data))
        current = [item for item in items if item.start <= now < item.end]
        return self._event(max(current, key=lambda item: item.start)) if current else None

    @callback
    def _handle_coordinator_update(self) -> None:
        """A poll may have found records: ranges are read again when next asked for."""
        self._ranges.clear()
        super()._handle_coordinator_update()

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """The events that overlap the range, oldest first."""
        key = (start_date, end_date)
        if (items := self._ranges.get(key)) is None:
            items = await self._async_read(start_date, end_date)
            self._ranges[key] = items
            while len(self._ranges) > RANGES_KEPT:
                self._ranges.popitem(last=False)
        return [self._event(item) for item in items]

    async def _async_read(self, start: datetime, end: datetime) -> list[CalendarItem]:
        client = self.coordinator.tracker.client
        assert isinstance(client, ServiceClient)
        try:
            reach = self.entity_description.reach
            listed, _complete = await client.async_listed_between(start - reach, end + reach)
        except ServiceError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=error_message(err),
                translation_placeholders={
                    "service": self.coordinator.provider.name,
                    "detail": str(err),
                },
            ) from err
        items = self.entity_description.items_fn(listed[::-1])
        return sorted(
            (item for item in items if item.end > start and item.start < end),
            key=lambda item: item.start,
        )
