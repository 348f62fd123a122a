"""SportTracks: the latest workout and the last 7 days of training as sensors.

An idle poll asks for one list item; new workouts are read down to the newest known one, each with
its detail. The last 7 days are read at a start and kept (read again only when the list's count
changes by other than the new workouts); 7-day totals are recomputed locally at every poll, so
workouts still leave the window on time without another request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    PERCENTAGE,
    UnitOfEnergy,
    UnitOfLength,
    UnitOfMass,
    UnitOfSpeed,
    UnitOfTime,
)
from homeassistant.util import dt as dt_util

from ..clients.base import RecordsSince
from ..clients.sporttracks import (
    WORKOUT_TYPES,
    HealthMetrics,
    SportTracksClient,
    Workout,
    WorkoutSummary,
    WorkoutUpload,
)
from .base import (
    KJ_PER_KCAL,
    KMH_PER_METER_PER_SECOND,
    METERS_PER_KILOMETER,
    MIN_EVENT,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
    BodyMetrics,
    CalendarItem,
    HealthTrackersSensorDescription,
    HealthTrackersStatisticDescription,
    Measurement,
    NewWorkout,
    OAuth2Settings,
    Provider,
    RecordField,
    RecordTracker,
    SensorValue,
    Series,
    StoredWorkout,
    describe_calendar,
    describe_event,
    describe_measurements,
    describe_sensor,
    describe_statistic,
    scaled,
    shown,
    summary,
)

WINDOW = timedelta(days=7)
ACTIVITY_PATH = "/api/v2/fitnessActivities/"
HEART_RATE = "bpm"


METRICS_EVERY = timedelta(hours=1)
"""How often the health metrics are read: people weigh themselves a few times a week at most."""


@dataclass(frozen=True)
class SportTracksSnapshot:
    """The newest workout, with its detail, the workouts of the last 7 days, the health metrics."""

    latest: Workout | None
    week: tuple[WorkoutSummary, ...]
    metrics: HealthMetrics | None = None


class SportTracksTracker(RecordTracker[SportTracksClient, SportTracksSnapshot]):
    """Keeps the newest workout's detail and the last 7 days of workouts as listed; writes.

    After a write the next poll reads the health metrics again, whenever they were last read.
    """

    probe = 1
    workout_types = WORKOUT_TYPES

    def __init__(self, client: SportTracksClient, account: str) -> None:
        """Nothing read yet."""
        super().__init__(client, account)
        self._latest: Workout | None = None
        self._week: list[WorkoutSummary] = []
        """Newest first."""
        self._metrics: HealthMetrics | None = None
        self._metrics_read_at: datetime | None = None

    def _window_start(self) -> datetime:
        return dt_util.utcnow() - WINDOW

    async def _async_keep(
        self, found: RecordsSince[WorkoutSummary, Workout]
    ) -> SportTracksSnapshot:
        """The week brought up to date, and the newest workout with its detail."""
        week = found.merged(self._week)
        self._week = [workout for workout in week if workout.start >= self._window_start()]
        top = week[0] if week else None
        if top is None:
            self._latest = None
        elif found.new and found.new[-1].id == top.id:
            self._latest = found.new[-1]
        elif self._latest is None or self._latest.id != top.id:
            self._latest = await self.client.async_workout(top)
        now = dt_util.utcnow()
        if self._metrics_read_at is None or now - self._metrics_read_at >= METRICS_EVERY:
            self._metrics = await self.client.async_get_metrics()
            self._metrics_read_at = now
        return SportTracksSnapshot(self._latest, tuple(self._week), self._metrics)

    async def async_add_body_metrics(self, metrics: BodyMetrics) -> None:
        """One upsert of the values given, by metric id in SportTracks' units (``METRICS``)."""
        values = {
            METRICS[key][0]: value / METRICS[key][1] for key, value in metrics.values().items()
        }
        self._metrics_read_at = None
        await self.client.async_set_metrics(metrics.measured_at, values)

    async def async_add_workout(self, workout: NewWorkout) -> StoredWorkout:
        """One upload, in SportTracks' units: s, m, kJ."""
        upload = WorkoutUpload(
            start=workout.start,
            type=workout.type,
            duration=workout.duration.total_seconds(),
            distance=scaled(workout.distance, METERS_PER_KILOMETER),
            energy=scaled(workout.energy, KJ_PER_KCAL),
            avg_heart_rate=workout.average_heart_rate,
            name=workout.name,
            notes=workout.notes,
        )
        return _stored(await self.client.async_upload_workout(upload))

    async def async_workout_starting(self, start: datetime) -> StoredWorkout | None:
        """The workout listed with that start, to the second."""
        found = await self.client.async_workout_starting(start)
        return None if found is None else _stored(found)


def _stored(workout: WorkoutSummary) -> StoredWorkout:
    return StoredWorkout(workout.id, _page(workout), workout.start)


METRICS: dict[str, tuple[str, float]] = {
    "weight": ("weight", 1.0),
    "body_fat": ("bodyFat", 100.0),
    "resting_heart_rate": ("restingHeartrate", 1.0),
}
"""Each health metric's sensor key: SportTracks' id for it, and the factor to the sensor's unit
(body fat: a fraction, shown in %)."""


def _series(snapshot: SportTracksSnapshot) -> Series | None:
    """The health metrics, each in its sensor's unit; None before they were read."""
    if snapshot.metrics is None:
        return None
    return {
        key: tuple((at, value * factor) for at, value in snapshot.metrics.series.get(metric, ()))
        for key, (metric, factor) in METRICS.items()
    }


def _metric(
    key: str, *, whole: bool = False, **kwargs: Any
) -> HealthTrackersSensorDescription[SportTracksSnapshot]:
    """The newest value of a health metric, saying when it was measured (``whole``: a count)."""
    metric, factor = METRICS[key]

    def latest(snapshot: SportTracksSnapshot) -> tuple[datetime, float] | None:
        return snapshot.metrics.latest(metric) if snapshot.metrics else None

    def value(snapshot: SportTracksSnapshot) -> float | None:
        if (found := latest(snapshot)) is None:
            return None
        return round(found[1]) if whole else found[1] * factor

    return describe_sensor(
        key,
        value,
        measured_at_fn=lambda snapshot: None if (found := latest(snapshot)) is None else found[0],
        state_class=SensorStateClass.MEASUREMENT,
        **kwargs,
    )


def _minutes(workout: WorkoutSummary) -> float | None:
    """Moving time in minutes."""
    return scaled(workout.duration, 1 / SECONDS_PER_MINUTE)


def _kilometres(workout: WorkoutSummary) -> float | None:
    return scaled(workout.distance, 1 / METERS_PER_KILOMETER)


def _kilocalories(workout: WorkoutSummary) -> float | None:
    """Energy in kcal (SportTracks sends kJ)."""
    return scaled(workout.energy, 1 / KJ_PER_KCAL)


def _kilometres_per_hour(workout: Workout) -> float | None:
    return scaled(workout.avg_speed, KMH_PER_METER_PER_SECOND)


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
        _minutes,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        # Shown as "1h 30m" (in minutes the frontend writes "90m", "565m").
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=2,
    ),
    _latest(
        "distance",
        _kilometres,
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.KILOMETERS,
        suggested_display_precision=2,
    ),
    _latest(
        "energy",
        _kilocalories,
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
        _kilometres_per_hour,
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
        # Shown as "1h 30m" (in minutes the frontend writes "90m", "565m").
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=2,
    ),
    _metric(
        "weight",
        device_class=SensorDeviceClass.WEIGHT,
        native_unit_of_measurement=UnitOfMass.KILOGRAMS,
        suggested_display_precision=1,
    ),
    _metric(
        "body_fat",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
    ),
    _metric(
        "resting_heart_rate",
        whole=True,
        native_unit_of_measurement=HEART_RATE,
        suggested_display_precision=0,
    ),
)

RECORD_FIELDS: tuple[RecordField[WorkoutSummary], ...] = (
    RecordField("type", lambda workout: workout.type),
    RecordField("name", lambda workout: workout.name),
    RecordField("start", lambda workout: workout.start),
    RecordField("duration", _minutes, digits=1),
    RecordField("distance", _kilometres, digits=3),
    RecordField("energy", _kilocalories, digits=1),
)
"""What the list shows of a workout: moving time in min, distance in km, energy in kcal."""

DETAIL_FIELDS: tuple[RecordField[Workout], ...] = (
    RecordField("average_heart_rate", lambda workout: workout.avg_heart_rate, digits=1),
    RecordField("maximum_heart_rate", lambda workout: workout.max_heart_rate, digits=1),
    RecordField("elevation_gain", lambda workout: workout.elevation_gain, digits=1),
    RecordField("average_speed", _kilometres_per_hour, digits=2),
)
"""What a workout's detail holds for sure (a list item may lack it): heart rates in bpm, elevation
gain in m, speed in km/h."""

STATISTICS: tuple[HealthTrackersStatisticDescription[WorkoutSummary], ...] = (
    describe_statistic("workouts", lambda workout: 1.0, None, summed=True),
    describe_statistic(
        "workout_distance",
        _kilometres,
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
        _kilocalories,
        UnitOfEnergy.KILO_CALORIE,
        summed=True,
    ),
)
"""Per hour a workout started in; from the list alone (``data=summary``, no detail request)."""


def _summary(workout: WorkoutSummary) -> str:
    """Type, distance and moving time, those the workout has: Running · 16.0 km · 90 min."""
    distance, minutes = _kilometres(workout), _minutes(workout)
    return summary(
        workout.type,
        shown(distance, "{:.1f} km"),
        shown(minutes, "{:.0f} min"),
    )


def _measurement_summary(measurement: Measurement) -> str:
    """Those of weight, body fat and resting heart rate it has: 84.7 kg · 21.1 % · 52 bpm."""
    weight, fat, heart_rate = (measurement.values.get(key) for key in METRICS)
    return summary(
        shown(weight, "{:.1f} kg"),
        shown(fat, "{:.1f} %"),
        shown(heart_rate, "{:.0f} " + HEART_RATE),
    )


def _workouts(listed: Sequence[WorkoutSummary]) -> list[CalendarItem]:
    """Each workout from its start for its elapsed time (else its moving time)."""
    return [
        CalendarItem(
            uid=workout.id,
            start=workout.start,
            end=workout.start
            + max(MIN_EVENT, timedelta(seconds=workout.clock_duration or workout.duration or 0)),
            summary=_summary(workout),
            description=_details(workout),
        )
        for workout in listed
    ]


def _details(workout: WorkoutSummary) -> str | None:
    """Its name, moving time, energy, heart rate, elevation gain and page, those the list has.

    The list is asked with ``data=summary``, so no detail request is needed for a range.
    """
    lines = [
        workout.name,
        shown(_minutes(workout), "{{name_latest_workout_duration}}: {:.0f} min"),
        shown(_kilocalories(workout), "{{name_latest_workout_energy}}: {:.0f} kcal"),
        shown(
            workout.avg_heart_rate,
            "{{name_latest_workout_average_heart_rate}}: {:.0f} " + HEART_RATE,
        ),
        shown(workout.elevation_gain, "{{name_latest_workout_elevation_gain}}: {:.0f} m"),
        _page(workout),
    ]
    return "\n".join(line for line in lines if line) or None


def _page(workout: WorkoutSummary) -> str | None:
    """The workout's page on SportTracks, from its API ``uri``.

    ``…/api/v2/fitnessActivities/<id>`` becomes the same host's ``/activity/<id>``, as a workout's
    detail names its page (``activity``); another ``uri`` gives no page.
    """
    if workout.uri is None or f"{ACTIVITY_PATH}{workout.id}" not in workout.uri:
        return None
    return workout.uri.replace(f"{ACTIVITY_PATH}{workout.id}", f"/activity/{workout.id}")


SPORTTRACKS = Provider(
    service="sporttracks",
    name="SportTracks",
    default_origin="https://api.sporttracks.mobi",
    update_interval=timedelta(minutes=15),
    client_type=SportTracksClient,
    tracker_type=SportTracksTracker,
    sensors=SENSORS,
    record_fields=RECORD_FIELDS,
    event=describe_event("new_workout", detail_fields=DETAIL_FIELDS, summary_fn=_summary),
    calendar=describe_calendar(
        "workouts", _workouts, lambda snapshot: cast(SportTracksSnapshot, snapshot).week, WINDOW
    ),
    statistics=STATISTICS,
    measurements=describe_measurements(
        "new_measurement",
        lambda snapshot: _series(cast(SportTracksSnapshot, snapshot)),
        {"weight": 2, "body_fat": 2, "resting_heart_rate": 0},
        _measurement_summary,
    ),
    oauth2=OAuth2Settings(
        authorize_path="/oauth2/authorize",
        token_path="/oauth2/token",
        token_encoding="json",
        token_lifetime=timedelta(hours=2),
    ),
    configuration_url="https://sporttracks.mobi",
)
