"""The one interface every service implements; the rest of the integration knows only this."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import os
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

from homeassistant.components.calendar import CalendarEntityDescription
from homeassistant.components.event import EventEntityDescription
from homeassistant.components.sensor import SensorEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import StateType
from yarl import URL

from ..clients.api import Authenticator
from ..clients.base import Account, AccountClient, Cursor, Record, RecordsSince, ServiceClient
from ..clients.oauth1 import OAuth1Settings
from ..const import ATTR_MEASURED_AT, LOGGER, MAX_TEXT_LENGTH

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Services report in their own units; sensors show one unit per kind (minutes, kilometres,
# kilocalories), converted here once, so states are plain numbers a template can print.
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
METERS_PER_KILOMETER = 1000
KJ_PER_KCAL = 4.184
KMH_PER_METER_PER_SECOND = 3.6

SensorValue = StateType | datetime

SnapshotT = TypeVar("SnapshotT")
"""What a provider shows of one account after a poll: its typed snapshot."""
ClientT = TypeVar("ClientT", bound=AccountClient)
ServiceClientT = TypeVar("ServiceClientT", bound=ServiceClient[Any, Any])
RecordT = TypeVar("RecordT", bound=Record)


def _not_earlier(snapshot: Any) -> datetime | None:
    return None


@dataclass(frozen=True, kw_only=True)
class HealthTrackersSensorDescription(SensorEntityDescription, Generic[SnapshotT]):
    """A sensor and how it reads its value from the provider's snapshot."""

    value_fn: Callable[[SnapshotT], SensorValue]
    measured_at_fn: Callable[[SnapshotT], datetime | None] = _not_earlier
    """When the value was measured, if earlier than the latest measurement."""
    restorable: bool = True
    """Whether the value stays true while the service is down after a restart, so the sensor
    shows it until the service answers; not a figure over a window ending now (last 7 days)."""


Value = float | str | datetime | None
"""A record's value as automations receive it."""


@dataclass(frozen=True)
class RecordField(Generic[RecordT]):
    """One value of a record as automations and scripts receive it, in the one unit it has there.

    Event data and the ``get_records`` action hold the same key with the same unit; numbers keep
    ``digits`` decimals (None: as measured), times come as ISO 8601.
    """

    key: str
    value_fn: Callable[[RecordT], Value]
    digits: int | None = None

    def value(self, record: RecordT) -> Any:
        """The field of ``record``, rounded and serialisable."""
        value = self.value_fn(record)
        if isinstance(value, float) and self.digits is not None:
            return round(value, self.digits)
        if isinstance(value, datetime):
            return value.isoformat()
        return value


def record_data(fields: Iterable[RecordField[Any]], record: Record) -> dict[str, Any]:
    """A record as automations and scripts receive it.

    Its service id, when it was measured (ISO 8601), then ``fields``; texts cut to what a state
    attribute holds.
    """
    data: dict[str, Any] = {
        "id": record.id,
        ATTR_MEASURED_AT: record.measured_at.isoformat(),
        **{field.key: field.value(record) for field in fields},
    }
    return {
        key: value[:MAX_TEXT_LENGTH] if isinstance(value, str) else value
        for key, value in data.items()
    }


@dataclass(frozen=True, kw_only=True)
class HealthTrackersEventDescription(EventEntityDescription, Generic[RecordT]):
    """The event a provider fires for each new record.

    The key is the event type (``new_workout``), the entity's translation key and the last part
    of its unique id. The data holds the provider's ``record_fields`` of the record, then
    ``detail_fields`` (values only a completed record has: a workout's heart rate) and, when the
    user opted in, ``personal_fields`` (where, notes). ``summary_fn``: the record at a glance,
    values and unit symbols only (no words to translate), for the logbook: "84.7 kg · 21.1 %".
    """

    detail_fields: tuple[RecordField[RecordT], ...] = ()
    personal_fields: tuple[RecordField[RecordT], ...] = ()
    summary_fn: Callable[[RecordT], str] | None = None


def describe_event(
    key: str,
    *,
    detail_fields: tuple[RecordField[RecordT], ...] = (),
    personal_fields: tuple[RecordField[RecordT], ...] = (),
    summary_fn: Callable[[RecordT], str] | None = None,
) -> HealthTrackersEventDescription[RecordT]:
    """An event entity with the one event type ``key``, named by its translation key."""
    return HealthTrackersEventDescription(
        key=key,
        translation_key=key,
        event_types=[key],
        detail_fields=detail_fields,
        personal_fields=personal_fields,
        summary_fn=summary_fn,
    )


Series = Mapping[str, Sequence[tuple[datetime, float]]]
"""Measures a service gives whole at each read, by sensor key: (when, value in the sensor's unit)."""


@dataclass(frozen=True)
class Measurement:
    """The values of a person's series measured at one instant (a scale's weight and body fat).

    Known by its instant: the service gives each series whole, with no id.
    """

    measured_at: datetime
    values: Mapping[str, float]

    @property
    def id(self) -> str:
        """Its instant in UTC, ISO 8601."""
        return self.measured_at.astimezone(UTC).isoformat()


def measure(key: str) -> Callable[[Measurement], float | None]:
    """Reads the measure ``key`` of a measurement; None where it was not measured then."""
    return lambda item: item.values.get(key)


def measurements(series: Series) -> list[Measurement]:
    """The series' values grouped by instant, oldest first."""
    at: dict[datetime, dict[str, float]] = {}
    for key, values in series.items():
        for when, value in values:
            at.setdefault(when, {})[key] = value
    return [Measurement(when, values) for when, values in sorted(at.items())]


@dataclass(frozen=True, kw_only=True)
class HealthTrackersMeasurementsDescription(HealthTrackersEventDescription[Measurement]):
    """Measures a service gives whole at every read (its health metrics), beside its records.

    Each new instant fires this event once, with ``fields`` (one per measure, in its sensor's
    unit); the series' history goes into the measures' sensors' statistics, hour by hour.
    ``series_fn``: the series the snapshot holds; None when it holds none yet.
    """

    series_fn: Callable[[Any], Series | None]
    fields: tuple[RecordField[Measurement], ...]


def describe_measurements(
    key: str,
    series_fn: Callable[[Any], Series | None],
    digits: Mapping[str, int],
    summary_fn: Callable[[Measurement], str],
) -> HealthTrackersMeasurementsDescription:
    """An event entity ``key`` for the series' new values, one field per measure in ``digits``."""
    return HealthTrackersMeasurementsDescription(
        key=key,
        translation_key=key,
        event_types=[key],
        series_fn=series_fn,
        fields=tuple(RecordField(key, measure(key), places) for key, places in digits.items()),
        summary_fn=summary_fn,
    )


def shown(value: float | None, template: str) -> str | None:
    """``value`` written into ``template`` ("{:.1f} kg"); None without a value, so it is left out."""
    return None if value is None else template.format(value)


def summary(*parts: str | None) -> str:
    """Parts of a record at a glance, those it has, as one line: "Running · 16.0 km · 90 min"."""
    return " · ".join(part for part in parts if part)


@dataclass(frozen=True)
class CalendarItem:
    """One event of an account's calendar: a record, or records that belong together."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    """Values and unit symbols; ``{unit_<key>}`` and ``{name_<key>}`` stand for the translated
    unit and name of the sensor ``key`` ("{unit_readings_24h}: 4": "readings: 4", "Messungen: 4";
    a count after its word, as plurals cannot be translated)."""
    description: str | None = None
    """The rest of what the record holds, one value a line, words as in ``summary``."""


@dataclass(frozen=True, kw_only=True)
class HealthTrackersCalendarDescription(CalendarEntityDescription, Generic[RecordT]):
    """An account's records as a calendar (its workouts, its scans), named by its key.

    ``items_fn`` turns records, as listed, into events. ``recent_fn`` gives the records the
    latest snapshot holds, all of those of the last ``held``: the event in progress (the
    calendar's state) and a range within that time cost no request.
    ``reach``: how far an event's records may lie outside a range it overlaps (a session that
    began the evening before, a reading after the range that still belongs to its session):
    records that much earlier and later are read too.
    """

    items_fn: Callable[[Sequence[RecordT]], list[CalendarItem]]
    recent_fn: Callable[[Any], Sequence[RecordT]] = lambda snapshot: ()
    held: timedelta = timedelta(0)
    reach: timedelta = timedelta(days=1)


MIN_EVENT = timedelta(minutes=1)
"""How long a calendar shows a record without a duration (a scan, a reading)."""


def describe_calendar(
    key: str,
    items_fn: Callable[[Sequence[RecordT]], list[CalendarItem]],
    recent_fn: Callable[[Any], Sequence[RecordT]] = lambda snapshot: (),
    held: timedelta = timedelta(0),
) -> HealthTrackersCalendarDescription[RecordT]:
    """A calendar entity ``key``, named by its translation key."""
    return HealthTrackersCalendarDescription(
        key=key, translation_key=key, items_fn=items_fn, recent_fn=recent_fn, held=held
    )


@dataclass(frozen=True, kw_only=True)
class HealthTrackersStatisticDescription(Generic[RecordT]):
    """A long-term statistic of an account's records, hour by hour, and how a record adds to it.

    ``summed``: each hour holds the total of its records (workouts, distance) and the statistic
    keeps a running sum, so graphs show it per day, week or month; it is an external statistic
    whose id ends ``…_<key>``, named ``entity.sensor.<key>``. Otherwise it is a measure: each
    hour keeps the mean, min and max of its records (weight, BAC), in the statistics of the
    sensor of the same key (a test holds every provider to having one, in the same unit).
    ``value_fn`` reads the record as the service lists it (the list item, never a detail), in
    ``unit``; None when the record has no value.
    """

    key: str
    unit: str | None
    summed: bool = False
    value_fn: Callable[[RecordT], float | None]


def describe_statistic(
    key: str,
    value_fn: Callable[[RecordT], float | None],
    unit: str | None,
    *,
    summed: bool = False,
) -> HealthTrackersStatisticDescription[RecordT]:
    """A statistic of the records' values (see the description)."""
    return HealthTrackersStatisticDescription(
        key=key,
        unit=unit,
        summed=summed,
        value_fn=value_fn,
    )


@dataclass(frozen=True)
class Polled(Generic[SnapshotT]):
    """What one poll found: the values to show and the records newer than the poll's position."""

    snapshot: SnapshotT
    new: tuple[Record, ...] = ()
    """Records newer than the position the poll was given, oldest first; none without one."""
    newest: Cursor | None = None
    """The newest record the service holds, as far as the poll saw: where a new feed starts."""
    complete: bool = True
    """Whether the poll read back to its position; if not, older new records were skipped."""


class AccountTracker(ABC, Generic[ClientT, SnapshotT]):
    """What a provider keeps of one account between polls, to keep idle polls cheap.

    One instance lives as long as its config entry is loaded.
    """

    def __init__(self, client: ClientT, account: str) -> None:
        """Nothing read yet; no I/O here.

        ``account``: the service's id of the entry's account, for clients whose credentials
        reach several (an application's); a person's sign-in reaches only their own.
        """
        self.client = client
        self.account = account

    @abstractmethod
    async def async_poll(self, position: Cursor | None) -> Polled[SnapshotT]:
        """Read what is new and return the values to show.

        ``position``: the newest record already handed on; the poll also returns every record
        newer than it, oldest first. None on an account's first poll ever: nothing is new then.
        """


@dataclass(frozen=True, kw_only=True)
class BodyMetrics:
    """Body measurements to store, in the units the sensors show: kg, %, bpm."""

    measured_at: datetime
    weight: float | None = None
    body_fat: float | None = None
    resting_heart_rate: float | None = None

    def values(self) -> dict[str, float]:
        """The values given, by the key of the sensor that shows each."""
        given = {
            "weight": self.weight,
            "body_fat": self.body_fat,
            "resting_heart_rate": self.resting_heart_rate,
        }
        return {key: value for key, value in given.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class NewWorkout:
    """A workout to store, in the units the sensors show: km, kcal, bpm."""

    type: str
    start: datetime
    duration: timedelta
    """Moving time."""
    distance: float | None = None
    energy: float | None = None
    average_heart_rate: float | None = None
    name: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class StoredWorkout:
    """A workout the service holds: its id, its page there, when it starts."""

    id: str
    url: str | None
    start: datetime


@runtime_checkable
class BodyMetricsWriter(Protocol):
    """A tracker whose account stores body measurements (``add_body_metrics``)."""

    async def async_add_body_metrics(self, metrics: BodyMetrics) -> None:
        """Store ``metrics``; storing the same ones again changes nothing."""


@runtime_checkable
class WorkoutWriter(Protocol):
    """A tracker whose account stores workouts (``add_workout``)."""

    workout_types: tuple[str, ...]
    """The service's workout types, as it spells them."""

    async def async_add_workout(self, workout: NewWorkout) -> StoredWorkout:
        """Create ``workout``: each call that reaches the service creates one, so never retried."""

    async def async_workout_starting(self, start: datetime) -> StoredWorkout | None:
        """The workout that starts at ``start``, if the service holds one."""


class RecordTracker(AccountTracker[ServiceClientT, SnapshotT]):
    """A person's records: each poll is one read from the top of the listing to its position.

    Which records are new is the client's answer (``async_records_since``); the tracker keeps
    from what the read listed only what its sensors need until the next poll. After a start the
    first poll also reads back through the window the sensors show (``_window_start``).
    """

    probe: ClassVar[int | None] = None
    """The first page of a poll: a few records, so that a poll finding nothing new is one small
    request; None: the largest page."""
    start_page: ClassVar[int | None] = None
    """The first page of the first poll after a start (records the sensors need besides the
    window); None: the largest page."""

    def __init__(self, client: ServiceClientT, account: str) -> None:
        """Nothing read yet."""
        super().__init__(client, account)
        self._started = False
        self._total: int | None = None
        """How many records the service held at the last poll, where it says."""

    async def async_poll(self, position: Cursor | None) -> Polled[SnapshotT]:
        """Read down to ``position``; then keep what was listed.

        A listing whose count changed by other than the new records (one was deleted, came late,
        or shares the newest one's instant but is listed after it) is read again from its top in
        the largest pages, back through the window.
        """
        found = await self.client.async_records_since(
            position,
            first_page=self.probe if self._started else self.start_page,
            back_to=None if self._started else self._window_start(),
        )
        if self._started and self._changed_beyond_new(found):
            found = await self.client.async_records_since(position, back_to=self._window_start())
        self._started, self._total = True, found.total
        return Polled(await self._async_keep(found), found.new, found.newest, found.complete)

    def _changed_beyond_new(self, found: RecordsSince[Any, Any]) -> bool:
        if self._total is None or found.total is None:
            return False
        return found.total != self._total + len(found.new)

    def _window_start(self) -> datetime | None:
        """Where the window the sensors show starts (the last 24 hours); None: no window."""
        return None

    @abstractmethod
    async def _async_keep(self, found: RecordsSince[Any, Any]) -> SnapshotT:
        """Keep what the sensors need of ``found``; the values to show."""


def scaled(value: float | None, factor: float) -> float | None:
    """``value`` in another unit (``factor`` per service unit); None stays None."""
    return None if value is None else value * factor


def describe_sensor(
    key: str, value_fn: Callable[[SnapshotT], SensorValue], **kwargs: Any
) -> HealthTrackersSensorDescription[SnapshotT]:
    """A sensor named by its translation key, which is its key."""
    return HealthTrackersSensorDescription(
        key=key, translation_key=key, value_fn=value_fn, **kwargs
    )


@dataclass(frozen=True, kw_only=True)
class OAuth2Settings:
    """How a service speaks OAuth 2.0."""

    authorize_path: str
    token_path: str
    token_encoding: Literal["json", "form"] = "form"
    scopes: tuple[str, ...] = ()
    token_lifetime: timedelta
    """The documented access-token lifetime, used when a token answer has no expires_in."""
    linked_accounts: bool = False
    """Users of partner apps sign in too, with the partner app's username and secret for them
    (``grant_type=password``, sent as a GET): a way in of its own (``Provider.ways_in``)."""
    may_drop_state: bool = False
    """The service may send the browser back without ``state`` (its docs show none).

    Home Assistant's own callback then cannot tell which flow to resume, so the sign-in goes
    through our views instead (``views``), which also know the browser by a cookie.
    """
    application_access: bool = False
    """Entries sign in as the application itself (``grant_type=client_credentials``).

    No person signs in and there is no sign-in page: the credential's client id and secret get
    a token, and a new one when it expires. A refresh token in the answer is not kept.
    """


@dataclass(frozen=True)
class WayIn:
    """An option of the config flow's menu: a provider's accounts, signed in one way."""

    provider: Provider[Any, Any]
    linked: bool = False
    """A partner app's user, signing in with that app's username and secret."""

    @property
    def option(self) -> str:
        """The menu option and its step: the provider's key, ``<key>_linked`` for linked ones."""
        return f"{self.provider.key}_linked" if self.linked else self.provider.key


@dataclass(frozen=True, kw_only=True)
class Provider(Generic[ClientT, SnapshotT]):
    """A service: where it lives, how it signs in, what it measures and how to read it."""

    service: str
    """The service: its origin, and the application credentials that belong to it."""
    name: str
    default_origin: str
    update_interval: timedelta
    client_type: type[ClientT]
    tracker_type: Callable[[ClientT, str], AccountTracker[ClientT, SnapshotT]]
    sensors: tuple[HealthTrackersSensorDescription[SnapshotT], ...]
    kind: str | None = None
    """What else than a person's account the entries are (``facility``): a second provider of
    the same service, with entries, sensors and a menu step of its own."""
    record_fields: tuple[RecordField[Any], ...] = ()
    """A record as automations and scripts receive it (event data, ``get_records``), from what
    the service's list shows of it."""
    event: HealthTrackersEventDescription[Any] | None = None
    """The event each new record fires; None where the account has no records."""
    statistics: tuple[HealthTrackersStatisticDescription[Any], ...] = ()
    """What the account's records add to long-term statistics, hour by hour."""
    calendar: HealthTrackersCalendarDescription[Any] | None = None
    """The account's records as calendar events; None where it keeps none (a facility)."""
    measurements: HealthTrackersMeasurementsDescription | None = None
    """Measures the service gives whole at every read; None where it has none."""
    oauth2: OAuth2Settings | None = None
    oauth1: OAuth1Settings | None = None
    personal_sensors: tuple[HealthTrackersSensorDescription[SnapshotT], ...] = ()
    """Sensors that reveal private details (where, notes): created only when the user opts in."""
    listed_sensors: (
        Callable[[SnapshotT], Iterable[HealthTrackersSensorDescription[SnapshotT]] | None] | None
    ) = None
    """Sensors of what a snapshot lists (a facility's machines): added as each first appears,
    removed once a snapshot no longer lists it; None from a snapshot that says nothing of them."""
    configuration_url: str | None = None

    @property
    def key(self) -> str:
        """The provider's name in entry data, in the menu and in unique ids: ``boditrax_facility``."""
        return f"{self.service}_{self.kind}" if self.kind else self.service

    @property
    def measurement_statistics(self) -> tuple[HealthTrackersStatisticDescription[Measurement], ...]:
        """The measurements' statistics: one per field, in the unit of its sensor of that key."""
        if self.measurements is None:
            return ()
        units = {sensor.key: sensor.native_unit_of_measurement for sensor in self.sensors}
        return tuple(
            describe_statistic(field.key, measure(field.key), units[field.key])
            for field in self.measurements.fields
        )

    @property
    def device_model(self) -> str:
        """What an account's device is: "Facility" for a facility, "Account" for a person's.

        The ``get_records`` action offers the devices of model "Account" (``services.yaml``): an
        account that keeps records.
        """
        return (self.kind or "account").capitalize()

    @property
    def ways_in(self) -> tuple[WayIn, ...]:
        """The config flow's menu options for this provider's accounts, in order.

        Its own sign-in, then partner apps' linked accounts where its OAuth 2.0 settings allow them.
        """
        if self.oauth2 is not None and self.oauth2.linked_accounts:
            return WayIn(self), WayIn(self, linked=True)
        return (WayIn(self),)

    def unique_id(self, account: Account) -> str:
        """The unique id of the account's entry: ``<key>_<account id>``."""
        return f"{self.key}_{account.id}"

    def account_id(self, unique_id: str) -> str:
        """The service's id of the account an entry's unique id names."""
        return unique_id.removeprefix(f"{self.key}_")

    def client(self, hass: HomeAssistant, auth: Authenticator) -> ClientT:
        """A client for what ``auth`` signs in as, on Home Assistant's shared session."""
        return self.client_type(async_get_clientsession(hass), self.origin, auth)

    def tracker(
        self, hass: HomeAssistant, auth: Authenticator, unique_id: str
    ) -> AccountTracker[ClientT, SnapshotT]:
        """What the coordinator polls for the entry with ``unique_id``."""
        return self.tracker_type(self.client(hass, auth), self.account_id(unique_id))

    def entry_title(self, account: Account) -> str:
        """The entry's (and device's) name: the person, where the service says who it is.

        Otherwise the service and the account's id. The device page says which service it is.
        """
        return account.name or f"{self.name} {account.id}"

    @property
    def origin(self) -> str:
        """The service's origin; ``HEALTH_TRACKERS_<SERVICE>_URL`` replaces it for development.

        Only an https origin or a plain-http one on this machine is accepted, so the variable can
        point at the fakes but never send secrets in clear text across a network.
        """
        variable = f"HEALTH_TRACKERS_{self.service.upper()}_URL"
        if not (override := os.environ.get(variable)):
            return self.default_origin
        url = URL(override)
        if url.scheme == "https" or (url.scheme == "http" and url.host in LOOPBACK_HOSTS):
            return override.rstrip("/")
        LOGGER.warning("Ignoring %s: only https or a loopback http origin is accepted", variable)
        return self.default_origin
