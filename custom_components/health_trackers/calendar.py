"""The calendar: an account's records as events (its workouts, its scans), read per range.

A range within what the latest poll holds (SportTracks' last 7 days, BACtrack's last 24 hours)
costs no request. Another range the calendar panel or ``calendar.get_events`` asks for is read
from the service in its largest pages, newest first from the range's end (where the service
filters by time), and kept until the next poll: browsing back and forth costs one read per range,
and a new record shows after the poll that found it. The event in progress (the calendar's state)
comes from what the latest poll holds, without a request.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from homeassistant.components.calendar import (
    DOMAIN as CALENDAR_DOMAIN,
    CalendarEntity,
    CalendarEvent,
)
from homeassistant.components.calendar.const import DATA_COMPONENT
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
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


def _words(translations: dict[str, str]) -> dict[str, str]:
    """The sensors' translated names and units: ``name_<key>``, ``unit_<key>``."""
    prefix = f"component.{DOMAIN}.entity.sensor."
    words = {}
    for key, text in translations.items():
        sensor, _, part = key.removeprefix(prefix).partition(".")
        if key.startswith(prefix) and part in ("name", "unit_of_measurement"):
            words[f"{'name' if part == 'name' else 'unit'}_{sensor}"] = text
    return words


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
        self._words: dict[str, str] = {}

    async def async_added_to_hass(self) -> None:
        """The words summaries and descriptions use, in Home Assistant's language."""
        await super().async_added_to_hass()
        translations = await async_get_translations(
            self.hass, self.hass.config.language, "entity", {DOMAIN}
        )
        self._words = _words(translations)

    def _event(self, item: CalendarItem) -> CalendarEvent:
        words = _Known(self._words)
        return CalendarEvent(
            start=item.start,
            end=item.end,
            summary=item.summary.format_map(words),
            description=item.description.format_map(words) if item.description else None,
            uid=item.uid,
        )

    def diagnostics(self) -> dict[str, int]:
        """Counts only: the ranges kept since the last poll and the events they hold."""
        return {
            "ranges_kept": len(self._ranges),
            "events_kept": sum(len(items) for items in self._ranges.values()),
        }

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
        if (items := self._held(start_date, end_date)) is not None:
            return [self._event(item) for item in items]
        if (items := self._ranges.get(key)) is None:
            items = await self._async_read(start_date, end_date)
            self._ranges[key] = items
            while len(self._ranges) > RANGES_KEPT:
                self._ranges.popitem(last=False)
        return [self._event(item) for item in items]

    def _held(self, start: datetime, end: datetime) -> list[CalendarItem] | None:
        """The range's events from the latest poll's records, if it holds all of the range."""
        description = self.entity_description
        snapshot = self.coordinator.data
        if snapshot is None or start - description.reach < dt_util.utcnow() - description.held:
            return None
        return _within(description.items_fn(description.recent_fn(snapshot)), start, end)

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
        return _within(self.entity_description.items_fn(listed[::-1]), start, end)


def _within(items: list[CalendarItem], start: datetime, end: datetime) -> list[CalendarItem]:
    """The events that overlap the range, oldest first."""
    return sorted(
        (item for item in items if item.end > start and item.start < end),
        key=lambda item: item.start,
    )


def account_calendar(
    hass: HomeAssistant, entry: HealthTrackersConfigEntry
) -> HealthTrackersCalendar | None:
    """The entry's calendar entity, if it has one and it is loaded."""
    description = entry.runtime_data.provider.calendar
    if description is None:
        return None
    entity_id = er.async_get(hass).async_get_entity_id(
        CALENDAR_DOMAIN, DOMAIN, f"{entry.unique_id}_{description.key}"
    )
    component = hass.data.get(DATA_COMPONENT)
    entity = component.get_entity(entity_id) if component and entity_id else None
    return entity if isinstance(entity, HealthTrackersCalendar) else None
