"""BACtrack (mobile.bactrack.com): breathalyzer readings over OAuth 1.0a.

Readings come newest first in pages. A poll reads the first page and stops at the first reading
it already knows, so an idle poll is one request and history is never read twice; the 24-hour
figures are recomputed from what is kept at every poll.
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
from homeassistant.const import PERCENTAGE
from homeassistant.util import dt as dt_util

from ..clients.api import ServiceApi
from ..clients.exceptions import InvalidResponseError
from ..clients.oauth1 import OAuth1Settings
from ..clients.parsing import as_datetime, as_float, as_text
from ..const import LOGGER
from ..provider import (
    Account,
    Provider,
    SensorValue,
    ServiceClient,
    ServiceData,
    describe_sensor,
)

PROFILE = "/internal_v1/users/me/"
READINGS = "/v1/readings/"
PAGE_SIZE = 10
"""Readings per request: an evening's readings between two polls fit in one page."""
MAX_PAGES = 20
WINDOW = timedelta(hours=24)
ELIMINATION_RATE = 0.015
"""Average fall of BAC in % (g/dL) per hour once drinking stops; people range about 0.010 to 0.020."""
MAX_BAC = 1.0
"""Above this a value is not a % BAC (a unit we do not know); such readings are skipped."""


@dataclass(frozen=True)
class _Reading:
    id: str
    time: datetime
    bac: float
    location: str | None
    notes: str | None

    @classmethod
    def parse(cls, item: object) -> _Reading | None:
        """A reading, or None when its id, time or BAC cannot be read."""
        if not isinstance(item, Mapping):
            return None
        reading_id = as_text(item.get("id")) or as_text(item.get("resource_uri"))
        time = as_datetime(item.get("timestamp"))
        bac = as_float(item.get("bac_level"))
        if reading_id is None or time is None or bac is None or not 0 <= bac <= MAX_BAC:
            LOGGER.debug("Skipping a BACtrack reading that cannot be read: %s", item.get("id"))
            return None
        latitude, longitude = as_float(item.get("latitude")), as_float(item.get("longitude"))
        location = (
            f"{latitude:.5f}, {longitude:.5f}"
            if latitude is not None and longitude is not None
            else None
        )
        return cls(reading_id, time, bac, location, as_text(item.get("notes")))


class BACtrackClient(ServiceClient):
    """Keeps the last 24 hours of readings (and always the newest one)."""

    def __init__(self, api: ServiceApi) -> None:
        """Nothing read yet."""
        super().__init__(api)
        self._readings: list[_Reading] = []

    async def async_get_account(self) -> Account:
        """The signed-in user's profile: the id and username."""
        profile = await self.api.async_request("GET", PROFILE)
        user_id = as_text(profile.get("id")) if isinstance(profile, Mapping) else None
        if user_id is None:
            raise InvalidResponseError("the profile has no id")
        return Account(id=user_id, title=f"BACtrack {as_text(profile.get('username')) or user_id}")

    async def async_get_data(self) -> ServiceData:
        """Read what is new since the last poll, then compute the sensors."""
        now = dt_util.utcnow()
        self._readings = await self._async_merge_new(now - WINDOW)
        return self._data(now)

    async def _async_merge_new(self, since: datetime) -> list[_Reading]:
        """The kept readings plus the new ones, newest first, trimmed to the window.

        Reading stops at the first known reading or at one older than ``since``. Kept readings
        newer than the known one that showed up, or all of them when none did, were deleted.
        """
        known = {reading.id: reading for reading in self._readings}
        new: list[_Reading] = []
        path: str | None = READINGS
        params: dict[str, str] | None = {"person": "me", "limit": str(PAGE_SIZE), "offset": "0"}
        reached: _Reading | None = None
        for _ in range(MAX_PAGES):
            if path is None:
                break
            objects, path = _page(await self.api.async_request("GET", path, params=params))
            params = None  # the service's next link carries the query
            for reading in filter(None, map(_Reading.parse, objects)):
                if reached := known.get(reading.id):
                    break
                new.append(reading)
            if reached or (new and new[-1].time < since):
                break
        kept = [reading for reading in self._readings if reached and reading.time <= reached.time]
        unique = {reading.id: reading for reading in (*kept, *new)}
        readings = sorted(unique.values(), key=lambda reading: reading.time, reverse=True)
        return readings[:1] + [reading for reading in readings[1:] if reading.time >= since]

    def _data(self, now: datetime) -> ServiceData:
        if not self._readings:
            return ServiceData({"readings_24h": 0})
        latest = self._readings[0]
        recent = [reading.bac for reading in self._readings if reading.time >= now - WINDOW]
        values: dict[str, SensorValue] = {
            "bac": latest.bac,
            "last_reading": latest.time,
            "peak_bac_24h": max(recent) if recent else None,
            "readings_24h": len(recent),
            "sober_at": (
                latest.time + timedelta(hours=latest.bac / ELIMINATION_RATE)
                if latest.bac > 0
                else None
            ),
            "location": latest.location,
            "notes": latest.notes,
        }
        return ServiceData(values)


def _page(answer: Any) -> tuple[list[Any], str | None]:
    """A tastypie page's objects and the link to the next (older) page."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("objects"), list):
        raise InvalidResponseError("readings answered no objects list")
    meta = answer.get("meta")
    return answer["objects"], as_text(meta.get("next")) if isinstance(meta, Mapping) else None


SENSORS: tuple[SensorEntityDescription, ...] = (
    describe_sensor(
        "bac",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
    ),
    describe_sensor("last_reading", device_class=SensorDeviceClass.TIMESTAMP),
    describe_sensor(
        "peak_bac_24h",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
    ),
    describe_sensor("readings_24h", state_class=SensorStateClass.MEASUREMENT),
    describe_sensor("sober_at", device_class=SensorDeviceClass.TIMESTAMP),
)

PERSONAL_SENSORS: tuple[SensorEntityDescription, ...] = (
    describe_sensor("location"),
    describe_sensor("notes"),
)

BACTRACK = Provider(
    service="bactrack",
    name="BACtrack",
    default_origin="https://mobile.bactrack.com",
    update_interval=timedelta(minutes=5),
    sensors=SENSORS,
    personal_sensors=PERSONAL_SENSORS,
    client_factory=BACtrackClient,
    oauth1=OAuth1Settings(
        request_token_path="/oauth/request_token/",
        authorize_path="/oauth/authorize/",
        access_token_path="/oauth/access_token/",
    ),
    query={"format": "json"},
    configuration_url="https://www.bactrack.com",
)
