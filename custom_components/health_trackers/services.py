"""The integration's actions: ``get_records`` reads; ``add_body_metrics``, ``add_workout`` write.

The two writes are the only way anything is ever written to a service. A write is checked before anything is sent (a plausible value, a time not in the future), sent
once, and followed by a poll, so the new values show and a new record fires its event like any
other. Body measurements are an upsert at the service (sending them twice is harmless); a workout
upload is not: one whose answer was lost is looked for by its start, never sent again blindly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import UnitOfLength, UnitOfMass, UnitOfTime
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType
from homeassistant.util.unit_conversion import MassConverter

from .clients.base import ServiceClient
from .clients.exceptions import (
    AuthenticationError,
    MissingScopeError,
    RateLimitedError,
    ServiceError,
)
from .compat import vol
from .const import ATTR_MEASURED_AT, CONF_PERSONAL_DATA, DOMAIN, LOGGER
from .coordinator import HealthTrackersConfigEntry, HealthTrackersCoordinator, error_message
from .providers.base import (
    BodyMetrics,
    BodyMetricsWriter,
    NewWorkout,
    StoredWorkout,
    WorkoutWriter,
    record_data,
)

SERVICE_GET_RECORDS = "get_records"
SERVICE_ADD_BODY_METRICS = "add_body_metrics"
SERVICE_ADD_WORKOUT = "add_workout"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"  # homeassistant.const has it only after 2025.4
ATTR_DEVICE_ID = "device_id"
ATTR_START = "start"
ATTR_END = "end"
ATTR_DETAILS = "details"
MAX_RECORDS = 1000
"""The most records one call answers (the newest of the range); ``complete`` says if cut."""
MAX_DETAILED = 100
"""The most records one call answers with their details: one request more each."""

ATTR_WEIGHT = "weight"
ATTR_WEIGHT_UNIT = "weight_unit"
ATTR_BODY_FAT = "body_fat"
ATTR_RESTING_HEART_RATE = "resting_heart_rate"
ATTR_TYPE = "type"
ATTR_DURATION = "duration"
ATTR_DISTANCE = "distance"
ATTR_ENERGY = "energy"
ATTR_AVERAGE_HEART_RATE = "average_heart_rate"
ATTR_NAME = "name"
ATTR_NOTES = "notes"
MAX_AHEAD = timedelta(minutes=5)
"""How far a measurement or a workout may lie ahead of Home Assistant's clock (clocks differ)."""


@dataclass(frozen=True)
class Plausible:
    """The values a write takes for a field, in its unit: anything else is a typo."""

    low: float
    high: float
    unit: str

    def check(self, field: str, value: float) -> float:
        """``value``, or the refusal that names the field and the range, before anything is sent."""
        if not self.low <= value <= self.high:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="implausible_value",
                translation_placeholders={
                    "field": field,
                    "value": f"{value:g}",
                    "low": f"{self.low:g}",
                    "high": f"{self.high:g}",
                    "unit": self.unit,
                },
            )
        return value


PLAUSIBLE_HEART_RATE = Plausible(20, 250, "bpm")
PLAUSIBLE = {
    ATTR_WEIGHT: Plausible(1, 650, UnitOfMass.KILOGRAMS),
    ATTR_BODY_FAT: Plausible(1, 80, "%"),
    ATTR_RESTING_HEART_RATE: PLAUSIBLE_HEART_RATE,
    ATTR_DURATION: Plausible(1, 7 * 24 * 60, UnitOfTime.MINUTES),
    ATTR_DISTANCE: Plausible(0, 5000, UnitOfLength.KILOMETERS),
    ATTR_ENERGY: Plausible(0, 50000, "kcal"),
    ATTR_AVERAGE_HEART_RATE: PLAUSIBLE_HEART_RATE,
}
"""Each number a write takes, in the unit the action takes it in (a weight: once in kg)."""


def _with_account(fields: Mapping[Any, Any]) -> vol.All[Any]:
    """An action's schema: ``fields`` and the account, by its device or its entry."""
    return vol.All(
        vol.Schema(
            {
                vol.Exclusive(ATTR_DEVICE_ID, "account"): cv.string,
                vol.Exclusive(ATTR_CONFIG_ENTRY_ID, "account"): cv.string,
                **fields,
            }
        ),
        cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID),
    )


GET_RECORDS_SCHEMA = _with_account(
    {
        vol.Required(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_DETAILS, default=False): cv.boolean,
    }
)
ADD_BODY_METRICS_SCHEMA = vol.All(
    _with_account(
        {
            vol.Optional(ATTR_WEIGHT): vol.Coerce(float),
            vol.Optional(ATTR_WEIGHT_UNIT, default=UnitOfMass.KILOGRAMS): vol.In(
                MassConverter.VALID_UNITS
            ),
            vol.Optional(ATTR_BODY_FAT): vol.Coerce(float),
            vol.Optional(ATTR_RESTING_HEART_RATE): vol.Coerce(float),
            vol.Optional(ATTR_MEASURED_AT): cv.datetime,
        }
    ),
    cv.has_at_least_one_key(ATTR_WEIGHT, ATTR_BODY_FAT, ATTR_RESTING_HEART_RATE),
)
ADD_WORKOUT_SCHEMA = _with_account(
    {
        vol.Required(ATTR_TYPE): cv.string,
        vol.Required(ATTR_START): cv.datetime,
        vol.Required(ATTR_DURATION): cv.positive_time_period,
        vol.Optional(ATTR_DISTANCE): vol.Coerce(float),
        vol.Optional(ATTR_ENERGY): vol.Coerce(float),
        vol.Optional(ATTR_AVERAGE_HEART_RATE): vol.Coerce(float),
        vol.Optional(ATTR_NAME): cv.string,
        vol.Optional(ATTR_NOTES): cv.string,
    }
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


WriterT = TypeVar("WriterT")


def _writer(
    call: ServiceCall, kind: type[WriterT], refusal: str
) -> tuple[HealthTrackersCoordinator[Any], WriterT]:
    """The account a write names and what writes to it; ``refusal`` where it cannot store that."""
    entry = _loaded_entry(call.hass, _entry_id(call.hass, call.data))
    coordinator = entry.runtime_data
    if not isinstance(tracker := coordinator.tracker, kind):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=refusal,
            translation_placeholders={"account": entry.title, "service": coordinator.provider.name},
        )
    return coordinator, tracker


def _checked(
    data: Mapping[str, Any], field: str, convert: Callable[[Any], float] = float
) -> float | None:
    """The call's ``field`` in the unit ``PLAUSIBLE`` has for it, if given and plausible."""
    return None if field not in data else PLAUSIBLE[field].check(field, convert(data[field]))


def _not_ahead(field: str, at: datetime) -> datetime:
    """``at``, unless it lies in the future: a measurement or a workout has happened."""
    if at > dt_util.now() + MAX_AHEAD:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="in_future",
            translation_placeholders={"field": field, "time": at.isoformat()},
        )
    return at


def _service_failed(coordinator: HealthTrackersCoordinator[Any], err: ServiceError) -> Exception:
    """What a write's request that failed raises: what went wrong, in words."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=error_message(err),
        translation_placeholders={"service": coordinator.provider.name, "detail": str(err)},
    )


async def _async_refused(
    coordinator: HealthTrackersCoordinator[Any], err: AuthenticationError
) -> Exception:
    """A write answered 401: the sign-in, if a read is refused too; otherwise the account.

    Other clients of SportTracks' API see a 401 on upload when a subscription or trial has
    expired, while reads go on: no new sign-in would help. A read refused too starts the
    re-authentication, as any poll refused does.
    """
    await coordinator.async_refresh()
    if coordinator.last_update_success:
        key, detail = "write_refused", str(err)
    elif isinstance(coordinator.last_exception, ConfigEntryAuthFailed):
        key, detail = "authentication_failed", str(err)
    else:
        key, detail = "service_error", str(coordinator.last_exception)
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"service": coordinator.provider.name, "detail": detail},
    )


@asynccontextmanager
async def _writing(coordinator: HealthTrackersCoordinator[Any], action: str) -> AsyncIterator[None]:
    """One write at a time per account, counted; once done, a poll at once.

    The poll shows the new values and fires a new record's event like any other.
    """
    async with coordinator.writing:
        try:
            yield
        except HomeAssistantError:
            coordinator.writes[f"{action}_failed"] += 1
            raise
        coordinator.writes[action] += 1
        await coordinator.async_refresh()


async def _async_add_body_metrics(call: ServiceCall) -> ServiceResponse:
    """Store body measurements at the time given (now), after checking each is plausible."""
    data = call.data
    coordinator, writer = _writer(
        call,
        BodyMetricsWriter,  # type: ignore[type-abstract]  # a protocol is what isinstance takes
        "stores_no_body_metrics",
    )
    metrics = BodyMetrics(
        measured_at=_not_ahead(
            ATTR_MEASURED_AT,
            _aware(data[ATTR_MEASURED_AT]) if ATTR_MEASURED_AT in data else dt_util.now(),
        ),
        weight=_checked(
            data,
            ATTR_WEIGHT,
            lambda weight: MassConverter.convert(
                weight, data[ATTR_WEIGHT_UNIT], UnitOfMass.KILOGRAMS
            ),
        ),
        body_fat=_checked(data, ATTR_BODY_FAT),
        resting_heart_rate=_checked(data, ATTR_RESTING_HEART_RATE),
    )
    async with _writing(coordinator, SERVICE_ADD_BODY_METRICS):
        try:
            await writer.async_add_body_metrics(metrics)
        except AuthenticationError as err:
            raise await _async_refused(coordinator, err) from err
        except ServiceError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="metrics_not_confirmed",
                translation_placeholders={
                    "service": coordinator.provider.name,
                    "detail": str(err),
                },
            ) from err
    return {
        ATTR_MEASURED_AT: metrics.measured_at.isoformat(),
        ATTR_WEIGHT: None if metrics.weight is None else round(metrics.weight, 2),
        ATTR_BODY_FAT: metrics.body_fat,
        ATTR_RESTING_HEART_RATE: metrics.resting_heart_rate,
    }


def _workout_type(
    coordinator: HealthTrackersCoordinator[Any], writer: WorkoutWriter, given: str
) -> str:
    """The service's spelling of the type ``given`` (in any case); refused if it has none."""
    known = {kind.casefold(): kind for kind in writer.workout_types}
    if (kind := known.get(given.strip().casefold())) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_workout_type",
            translation_placeholders={"service": coordinator.provider.name, "type": given},
        )
    return kind


async def _async_add_workout(call: ServiceCall) -> ServiceResponse:
    """Store a workout once: not again when one starts at that time, never twice on a lost answer."""
    data = call.data
    coordinator, writer = _writer(
        call,
        WorkoutWriter,  # type: ignore[type-abstract]  # a protocol is what isinstance takes
        "stores_no_workouts",
    )
    workout = NewWorkout(
        type=_workout_type(coordinator, writer, data[ATTR_TYPE]),
        start=_not_ahead(ATTR_START, _aware(data[ATTR_START])),
        duration=timedelta(
            minutes=PLAUSIBLE[ATTR_DURATION].check(
                ATTR_DURATION, data[ATTR_DURATION].total_seconds() / 60
            )
        ),
        distance=_checked(data, ATTR_DISTANCE),
        energy=_checked(data, ATTR_ENERGY),
        average_heart_rate=_checked(data, ATTR_AVERAGE_HEART_RATE),
        name=data.get(ATTR_NAME),
        notes=data.get(ATTR_NOTES),
    )
    async with _writing(coordinator, SERVICE_ADD_WORKOUT):
        try:
            found = await writer.async_workout_starting(workout.start)
        except AuthenticationError as err:  # nothing sent yet
            raise await _async_refused(coordinator, err) from err
        except ServiceError as err:
            raise _service_failed(coordinator, err) from err
        if found is not None:
            return _workout_answer(found, created=False)
        try:
            stored = await writer.async_add_workout(workout)
        except AuthenticationError as err:
            raise await _async_refused(coordinator, err) from err
        except (RateLimitedError, MissingScopeError) as err:  # refused: nothing stored
            raise _service_failed(coordinator, err) from err
        except ServiceError as err:
            stored = await _async_look_for(coordinator, writer, workout, err)
    return _workout_answer(stored, created=True)


async def _async_look_for(
    coordinator: HealthTrackersCoordinator[Any],
    writer: WorkoutWriter,
    workout: NewWorkout,
    err: ServiceError,
) -> StoredWorkout:
    """Whether an upload whose answer was lost (a timeout, a dropped connection) was stored.

    Sending it again could store it twice; the service's list says, by the workout's start.
    """
    service, start = coordinator.provider.name, workout.start.isoformat()
    LOGGER.debug("%s: the upload of a workout failed (%s); looking for it", coordinator.name, err)
    try:
        stored = await writer.async_workout_starting(workout.start)
    except ServiceError as check:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="workout_unconfirmed",
            translation_placeholders={
                "service": service,
                "detail": str(err),
                "check": str(check),
                "start": start,
            },
        ) from err
    if stored is None:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="workout_not_stored",
            translation_placeholders={"service": service, "detail": str(err), "start": start},
        ) from err
    return stored


def _workout_answer(stored: StoredWorkout, *, created: bool) -> ServiceResponse:
    """The workout's id, its page and start; ``created``: false if it was there before the call."""
    return {
        "id": stored.id,
        "url": stored.url,
        ATTR_START: stored.start.isoformat(),
        "created": created,
    }


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, whatever entries exist)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_RECORDS,
        _async_get_records,
        schema=GET_RECORDS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    for action, handler, schema in (
        (SERVICE_ADD_BODY_METRICS, _async_add_body_metrics, ADD_BODY_METRICS_SCHEMA),
        (SERVICE_ADD_WORKOUT, _async_add_workout, ADD_WORKOUT_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN, action, handler, schema=schema, supports_response=SupportsResponse.OPTIONAL
        )
