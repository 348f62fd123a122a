"""The ``health_trackers.get_records`` action: an account's records of a time range, as data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .clients.base import ServiceClient
from .clients.exceptions import ServiceError
from .compat import vol
from .const import CONF_PERSONAL_DATA, DOMAIN
from .coordinator import HealthTrackersConfigEntry, error_message
from .providers.base import record_data

SERVICE_GET_RECORDS = "get_records"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"  # homeassistant.const has it only after 2025.4
ATTR_DEVICE_ID = "device_id"
ATTR_START = "start"
ATTR_END = "end"
ATTR_DETAILS = "details"
MAX_RECORDS = 1000
"""The most records one call answers (the newest of the range); ``complete`` says if cut."""
MAX_DETAILED = 100
"""The most records one call answers with their details: one request more each."""

GET_RECORDS_SCHEMA = vol.All(
    vol.Schema(
        {
            vol.Exclusive(ATTR_DEVICE_ID, "account"): cv.string,
            vol.Exclusive(ATTR_CONFIG_ENTRY_ID, "account"): cv.string,
            vol.Required(ATTR_START): cv.datetime,
            vol.Optional(ATTR_END): cv.datetime,
            vol.Optional(ATTR_DETAILS, default=False): cv.boolean,
        }
    ),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
)


def _aware(value: datetime) -> datetime:
    """A time as the user wrote it; without an offset, in Home Assistant's time zone."""
    return value if value.tzinfo else value.replace(tzinfo=dt_util.get_default_time_zone())


def _entry_id(hass: HomeAssistant, data: Mapping[str, Any]) -> str:
    """The account a call names: its entry, or its device (the picker the action shows)."""
    if ATTR_CONFIG_ENTRY_ID in data:
        return str(data[ATTR_CONFIG_ENTRY_ID])
    device = dr.async_get(hass).async_get(data[ATTR_DEVICE_ID])
    for domain, unique_id in device.identifiers if device else ():
        # An account's device is identified by its entry's unique id (``entity.py``).
        if domain == DOMAIN and (
            entry := hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, unique_id)
        ):
            return entry.entry_id
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="device_not_found",
        translation_placeholders={"device_id": str(data[ATTR_DEVICE_ID])},
    )


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> HealthTrackersConfigEntry:
    entry: HealthTrackersConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"account": entry.title},
        )
    return entry


async def _async_get_records(call: ServiceCall) -> ServiceResponse:
    """The records from ``start`` to ``end`` (now), oldest first, read from the service.

    Each as its event describes it: the provider's record fields, with ``details`` also the
    values only a record's detail holds (a request each, so fewer records), and the personal
    fields where the user opted in to them.
    """
    entry = _loaded_entry(call.hass, _entry_id(call.hass, call.data))
    start = _aware(call.data[ATTR_START])
    end = _aware(call.data[ATTR_END]) if ATTR_END in call.data else dt_util.now()
    if start >= end:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="invalid_range")
    coordinator = entry.runtime_data
    provider = coordinator.provider
    if not isinstance(client := coordinator.tracker.client, ServiceClient):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_records",
            translation_placeholders={"account": entry.title},
        )
    event = provider.event
    details = bool(call.data[ATTR_DETAILS] and event and event.detail_fields)
    fields = (
        *provider.record_fields,
        *(event.detail_fields if event and details else ()),
        *(event.personal_fields if event and entry.options.get(CONF_PERSONAL_DATA) else ()),
    )
    try:
        listed, complete = await client.async_listed_between(
            start, end, limit=MAX_DETAILED if details else MAX_RECORDS
        )
        found = [await client.async_complete(item) for item in listed] if details else listed
    except ServiceError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=error_message(err),
            translation_placeholders={"service": provider.name, "detail": str(err)},
        ) from err
    records: list[JsonValueType] = [record_data(fields, record) for record in reversed(found)]
    return {"records": records, "complete": complete}


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, whatever entries exist)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_RECORDS,
        _async_get_records,
        schema=GET_RECORDS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
