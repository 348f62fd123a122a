"""SportTracks: the latest workout and the last 7 days of training as sensors.

An idle poll asks for one list item; the latest workout's detail and the 7-day list are fetched
only when that item or the total count changed. 7-day totals are recomputed locally at every
poll, so workouts still leave the window on time without another request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import UnitOfEnergy, UnitOfLength, UnitOfSpeed, UnitOfTime
from homeassistant.util import dt as dt_util

from ..clients.base import Cursor
from ..clients.sporttracks import SportTracksClient, Workout, WorkoutSummary
from ..const import LOGGER
from ..provider import (
    KJ_PER_KCAL,
    KMH_PER_METER_PER_SECOND,
    METERS_PER_KILOMETER,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
    AccountTracker,
    HealthTrackersSensorDescription,
    HealthTrackersStatisticDescription,
    OAuth2Settings,
    Polled,
    Provider,
    SensorValue,
    describe_event,
    describe_sensor,
    describe_statistic,
    scaled,
    sensor_values,
    warn_if_incomplete,
)

WINDOW = timedelta(days=7)
WINDOW_PAGE_SIZE = 100
WINDOW_MAX_PAGES = 10
HEART_RATE = "bpm"


@dataclass(frozen=True)
class SportTracksSnapshot:
    """The newest workout, with its detail, and the workouts of the last 7 days."""

    latest: Workout | None
    week: tuple[WorkoutSummary, ...]


class SportTracksTracker(AccountTracker[SportTracksClient, SportTracksSnapshot]):
    """Reads the newest workout and the last 7 days when the list changed."""

    def __init__(self, client: SportTracksClient, account: str) -> None:
        """Nothing fetched yet."""
        super().__init__(client, account)
        self._listed: tuple[int | None, str | None] | None = None
        """The list's total and its newest workout at the last change."""
        self._latest: Workout | None = None
        self._recent: list[WorkoutSummary] = []

    async def async_poll(self, since: Cursor | None) -> Polled[SportTracksSnapshot]:
        """One request when nothing changed; three or more when a workout came or went.

        Workouts newer than ``since`` come from the 7-day list read anyway, each with its
        detail (the newest's is read already); from the list since ``since`` when that lies
        further back.
        """
        cursor = Cursor.of(self._latest) if self._latest else None
        if since is not None and (cursor is None or since < cursor):
            cursor = since
        found = await self.client.async_records_since(cursor, first_page=1, max_pages=1)
        newest = found.newest
        listed = (found.total, newest.id if newest else None)
        new: tuple[Workout, ...] = ()
        start = dt_util.utcnow() - WINDOW
        if listed != self._listed:
            self._recent, complete = await self._async_week(start)
            # Workouts that started in the same second come in the service's order, so the
            # probe's may not be the newest by (start, id); the 7-day list holds them all.
            top = max(filter(None, (newest, *self._recent)), key=Cursor.of, default=None)
            if found.records and top is newest:
                latest: Workout | None = found.records[-1]
            else:
                latest = await self.client.async_workout(top) if top else None
            if since is not None and latest is not None and Cursor.of(latest) > since:
                new = await self._async_new(since, latest, start, complete)
            self._latest, self._listed = latest, listed
        snapshot = SportTracksSnapshot(
            self._latest, tuple(item for item in self._recent if item.start >= start)
        )
        return Polled(snapshot, new, Cursor.of(self._latest) if self._latest else None)

    async def _async_new(
        self, since: Cursor, latest: Workout, start: datetime, week_complete: bool
    ) -> tuple[Workout, ...]:
        """Every workout newer than ``since``, oldest first, ``latest`` the newest of them."""
        if since.at >= start and week_complete:
            listed = sorted(
                (item for item in self._recent if Cursor.of(item) > since and item.id != latest.id),
                key=Cursor.of,
            )
            return (*[await self.client.async_workout(item) for item in listed], latest)
        found = await self.client.async_records_since(since)
        warn_if_incomplete(found, "SportTracks workouts")
        return found.records

    async def _async_week(self, start: datetime) -> tuple[list[WorkoutSummary], bool]:
        """Every workout since ``start`` as the list shows it, and whether that is all."""
        recent, complete = await self.client.async_summaries_since(
            start, page_size=WINDOW_PAGE_SIZE, max_pages=WINDOW_MAX_PAGES
        )
        if not complete:
            LOGGER.warning(
                "More than %s SportTracks workouts in 7 days; the 7-day totals count those only",
                len(recent),
            )
        return recent, complete


def _latest(
    key: str, value_fn: Callable[[Workout], SensorValue], **kwargs: Any
) -> HealthTrackersSensorDescription[SportTracksSnapshot]:
    """A value of the newest workout."""
    return describe_sensor(
        f"latest_workout_{key}",
        lambda snapshot: value_fn(snapshot.latest) if snapshot.latest else None,
        **kwargs,
    )


def _week(
    key: str, value_fn: Callable[[tuple[WorkoutSummary, ...]], SensorValue], **kwargs: Any
) -> HealthTrackersSensorDescription[SportTracksSnapshot]:
    """A 7-day total: it rises and falls, so statistics keep its mean, min and max.

    Time alone changes it, so no value from before a restart stands in for it.
    """
    return describe_sensor(
        f"week_{key}",
        lambda snapshot: value_fn(snapshot.week),
        state_class=SensorStateClass.MEASUREMENT,
        restorable=False,
        **kwargs,
    )


SENSORS: tuple[HealthTrackersSensorDescription[SportTracksSnapshot], ...] = (
    _latest("type", lambda workout: workout.type),
    _latest("start", lambda workout: workout.start, device_class=SensorDeviceClass.TIMESTAMP),
    _latest(
        "duration",
        lambda workout: scaled(workout.duration, 1 / SECONDS_PER_MINUTE),
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
    ),
    _latest(
        "distance",
        lambda workout: scaled(workout.distance, 1 / METERS_PER_KILOMETER),
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.KILOMETERS,
        suggested_display_precision=2,
    ),
    _latest(
        "energy",
        lambda workout: scaled(workout.energy, 1 / KJ_PER_KCAL),
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_CALORIE,
        suggested_display_precision=0,
    ),
    _latest(
        "average_heart_rate",
        lambda workout: workout.avg_heart_rate,
        native_unit_of_measurement=HEART_RATE,
        suggested_display_precision=0,
    ),
    _latest(
        "maximum_heart_rate",
        lambda workout: workout.max_heart_rate,
        native_unit_of_measurement=HEART_RATE,
        suggested_display_precision=0,
    ),
    _latest(
        "elevation_gain",
        lambda workout: workout.elevation_gain,
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.METERS,
        suggested_display_precision=0,
    ),
    _latest(
        "average_speed",
        lambda workout: scaled(workout.avg_speed, KMH_PER_METER_PER_SECOND),
        device_class=SensorDeviceClass.SPEED,
        native_unit_of_measurement=UnitOfSpeed.KILOMETERS_PER_HOUR,
        suggested_display_precision=1,
    ),
    _week("workouts", len, suggested_display_precision=0),
    _week(
        "distance",
        lambda week: sum(item.distance or 0.0 for item in week) / METERS_PER_KILOMETER,
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.KILOMETERS,
        suggested_display_precision=2,
    ),
    _week(
        "duration",
        lambda week: sum(item.duration or 0.0 for item in week) / SECONDS_PER_MINUTE,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
    ),
)

LATEST = "latest_workout_"


def _workout_data(workout: Workout) -> dict[str, Any]:
    """A workout's values as the latest-workout sensors would show them (min, km, kcal, …)."""
    return sensor_values(
        (d for d in SENSORS if d.key.startswith(LATEST)),
        SportTracksSnapshot(workout, ()),
        prefix=LATEST,
    ) | {"name": workout.name}


STATISTICS: tuple[HealthTrackersStatisticDescription[WorkoutSummary], ...] = (
    describe_statistic("workouts", lambda workout: 1.0, None, summed=True),
    describe_statistic(
        "workout_distance",
        lambda workout: scaled(workout.distance, 1 / METERS_PER_KILOMETER),
        UnitOfLength.KILOMETERS,
        summed=True,
    ),
    describe_statistic(
        "workout_moving_time",
        lambda workout: scaled(workout.duration, 1 / SECONDS_PER_HOUR),
        UnitOfTime.HOURS,
        summed=True,
    ),
    describe_statistic(
        "workout_energy",
        lambda workout: scaled(workout.energy, 1 / KJ_PER_KCAL),
        UnitOfEnergy.KILO_CALORIE,
        summed=True,
    ),
)
"""Per hour a workout started in; from the list alone (``data=summary``, no detail request)."""

SPORTTRACKS = Provider(
    service="sporttracks",
    name="SportTracks",
    default_origin="https://api.sporttracks.mobi",
    update_interval=timedelta(minutes=15),
    client_type=SportTracksClient,
    tracker_type=SportTracksTracker,
    sensors=SENSORS,
    event=describe_event("new_workout", _workout_data),
    statistics=STATISTICS,
    oauth2=OAuth2Settings(
        authorize_path="/oauth2/authorize",
        token_path="/oauth2/token",
        token_encoding="json",
        token_lifetime=timedelta(hours=2),
    ),
    configuration_url="https://sporttracks.mobi",
)
