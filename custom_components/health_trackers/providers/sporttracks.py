"""SportTracks (sporttracks.mobi): workouts over OAuth 2.0 with JSON token requests.

An idle poll asks for one list item; the latest workout's detail and the 7-day list are fetched
only when that item or the total count changed. 7-day totals are recomputed locally at every
poll, so workouts still leave the window on time without another request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    UnitOfEnergy,
    UnitOfLength,
    UnitOfSpeed,
    UnitOfTime,
)
from homeassistant.util import dt as dt_util

from ..clients.api import ServiceApi
from ..clients.exceptions import InvalidResponseError
from ..clients.parsing import as_datetime, as_float, as_text
from ..const import LOGGER
from ..provider import (
    KJ_PER_KCAL,
    KMH_PER_METER_PER_SECOND,
    METERS_PER_KILOMETER,
    SECONDS_PER_MINUTE,
    Account,
    OAuth2Settings,
    Provider,
    SensorValue,
    ServiceClient,
    ServiceData,
    describe_sensor,
    scaled,
)

ACTIVITIES = "/api/v2/fitnessActivities"
CONNECT = "/api/v2/system/connect"
WINDOW = timedelta(days=7)
WINDOW_PAGE_SIZE = 100
WINDOW_MAX_PAGES = 10
HEART_RATE = "bpm"


@dataclass(frozen=True)
class _Summary:
    """The fields of a list item we use."""

    uri: str | None
    type: str | None
    start: datetime | None
    distance: float | None
    duration: float | None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> _Summary:
        return cls(
            uri=as_text(item.get("uri")),
            type=as_text(item.get("type")),
            start=as_datetime(item.get("start_time")),
            distance=as_float(item.get("total_distance")),
            duration=as_float(item.get("duration")),
        )


def _page(answer: Any) -> tuple[str | None, list[_Summary]]:
    """Total count and items of a list answer."""
    if not isinstance(answer, dict) or not isinstance(items := answer.get("items"), list):
        raise InvalidResponseError("workout list without items")
    return as_text(answer.get("size")), [_Summary.parse(i) for i in items if isinstance(i, dict)]


class SportTracksClient(ServiceClient):
    """Reads the newest workout and the last 7 days."""

    def __init__(self, api: ServiceApi) -> None:
        """Nothing fetched yet."""
        super().__init__(api)
        self._cursor: tuple[str | None, str | None] | None = None
        self._latest: dict[str, SensorValue] = {}
        self._recent: list[_Summary] = []

    async def async_get_account(self) -> Account:
        """``POST /system/connect`` names the user the token belongs to."""
        answer = await self.api.async_request("POST", CONNECT)
        user = answer.get("user") if isinstance(answer, dict) else None
        if not isinstance(user, dict) or (uid := as_text(user.get("uid"))) is None:
            raise InvalidResponseError("connect answered no user id")
        return Account(id=uid, title=f"SportTracks {uid}")

    async def async_get_data(self) -> ServiceData:
        """One request when nothing changed; three or more when a workout came or went."""
        size, items = _page(
            await self.api.async_request("GET", ACTIVITIES, params={"pageSize": "1"})
        )
        cursor = (size, items[0].uri if items else None)
        if cursor != self._cursor:
            latest = await self._async_latest(items[0]) if items else {}
            self._recent = await self._async_since(dt_util.utcnow() - WINDOW)
            self._latest, self._cursor = latest, cursor
        return ServiceData({**self._latest, **self._window_totals()})

    async def _async_latest(self, summary: _Summary) -> dict[str, SensorValue]:
        """The newest workout: its list item, completed by its detail where it has one."""
        values: dict[str, SensorValue] = {
            "latest_workout_type": summary.type,
            "latest_workout_start": summary.start,
            "latest_workout_duration": scaled(summary.duration, 1 / SECONDS_PER_MINUTE),
            "latest_workout_distance": scaled(summary.distance, 1 / METERS_PER_KILOMETER),
        }
        if summary.uri is None:
            return values
        detail = await self.api.async_request("GET", summary.uri)
        if not isinstance(detail, dict):
            raise InvalidResponseError("workout detail is not an object")
        from_detail: dict[str, SensorValue] = {
            "latest_workout_type": as_text(detail.get("type")),
            "latest_workout_start": as_datetime(detail.get("start_time")),
            "latest_workout_duration": scaled(
                as_float(detail.get("duration")), 1 / SECONDS_PER_MINUTE
            ),
            "latest_workout_distance": scaled(
                as_float(detail.get("total_distance")), 1 / METERS_PER_KILOMETER
            ),
            "latest_workout_energy": scaled(as_float(detail.get("calories")), 1 / KJ_PER_KCAL),
            "latest_workout_average_heart_rate": as_float(detail.get("avg_heartrate")),
            "latest_workout_maximum_heart_rate": as_float(detail.get("max_heartrate")),
            "latest_workout_elevation_gain": as_float(detail.get("elevation_gain")),
            "latest_workout_average_speed": scaled(
                as_float(detail.get("avg_speed")), KMH_PER_METER_PER_SECOND
            ),
        }
        return values | {key: value for key, value in from_detail.items() if value is not None}

    async def _async_since(self, since: datetime) -> list[_Summary]:
        """Every workout that started after ``since``, following pages."""
        found: list[_Summary] = []
        query = {"pageSize": str(WINDOW_PAGE_SIZE), "noEarlierThan": since.isoformat()}
        for page in range(WINDOW_MAX_PAGES):
            answer = await self.api.async_request(
                "GET", ACTIVITIES, params={**query, "page": str(page)}
            )
            items = _page(answer)[1]
            found.extend(items)
            if len(items) < WINDOW_PAGE_SIZE or not answer.get("next"):
                return found
        LOGGER.warning(
            "More than %s SportTracks workouts in 7 days; the 7-day totals count those only",
            len(found),
        )
        return found

    def _window_totals(self) -> dict[str, SensorValue]:
        start = dt_util.utcnow() - WINDOW
        recent = [item for item in self._recent if item.start is not None and item.start >= start]
        return {
            "week_workouts": len(recent),
            "week_distance": sum(item.distance or 0.0 for item in recent) / METERS_PER_KILOMETER,
            "week_duration": sum(item.duration or 0.0 for item in recent) / SECONDS_PER_MINUTE,
        }


def _rolling(key: str, **kwargs: Any) -> SensorEntityDescription:
    """A 7-day total: it rises and falls, so statistics keep its mean, min and max."""
    return describe_sensor(key, state_class=SensorStateClass.MEASUREMENT, **kwargs)


SENSORS: tuple[SensorEntityDescription, ...] = (
    describe_sensor("latest_workout_type"),
    describe_sensor("latest_workout_start", device_class=SensorDeviceClass.TIMESTAMP),
    describe_sensor(
        "latest_workout_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
    ),
    describe_sensor(
        "latest_workout_distance",
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.KILOMETERS,
        suggested_display_precision=2,
    ),
    describe_sensor(
        "latest_workout_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_CALORIE,
        suggested_display_precision=0,
    ),
    describe_sensor(
        "latest_workout_average_heart_rate",
        native_unit_of_measurement=HEART_RATE,
        suggested_display_precision=0,
    ),
    describe_sensor(
        "latest_workout_maximum_heart_rate",
        native_unit_of_measurement=HEART_RATE,
        suggested_display_precision=0,
    ),
    describe_sensor(
        "latest_workout_elevation_gain",
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.METERS,
        suggested_display_precision=0,
    ),
    describe_sensor(
        "latest_workout_average_speed",
        device_class=SensorDeviceClass.SPEED,
        native_unit_of_measurement=UnitOfSpeed.KILOMETERS_PER_HOUR,
        suggested_display_precision=1,
    ),
    _rolling("week_workouts", suggested_display_precision=0),
    _rolling(
        "week_distance",
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.KILOMETERS,
        suggested_display_precision=2,
    ),
    _rolling(
        "week_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
    ),
)

SPORTTRACKS = Provider(
    service="sporttracks",
    name="SportTracks",
    default_origin="https://api.sporttracks.mobi",
    update_interval=timedelta(minutes=15),
    sensors=SENSORS,
    client_factory=SportTracksClient,
    oauth2=OAuth2Settings(
        authorize_path="/oauth2/authorize",
        token_path="/oauth2/token",
        token_encoding="json",
        token_lifetime=timedelta(hours=2),
    ),
    configuration_url="https://sporttracks.mobi",
)
