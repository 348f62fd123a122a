"""BACtrack: each reading's BAC, and the last 24 hours of them, as sensors.

An idle poll reads the newest few readings, which hold the newest one already known, so it is one
small request; after many new readings, pages of the largest size follow, never past the known
one or 24 hours back. The tracker keeps the last 24 hours (and always the newest reading) and
recomputes the 24-hour figures at every poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import PERCENTAGE
from homeassistant.util import dt as dt_util

from ..clients.bactrack import BACtrackClient, Reading
from ..clients.base import Cursor
from ..clients.oauth1 import OAuth1Settings
from ..provider import (
    AccountTracker,
    EventData,
    HealthTrackersEventDescription,
    HealthTrackersSensorDescription,
    HealthTrackersStatisticDescription,
    Polled,
    Provider,
    describe_event,
    describe_sensor,
    describe_statistic,
    new_records,
    sensor_values,
)

FIRST_PAGE = 10
"""Readings of a poll's first request: an evening's readings between two polls fit in it, so a
poll stays one small request; more readings are read in pages of the client's largest."""
MAX_PAGES = 20
WINDOW = timedelta(hours=24)
ELIMINATION_RATE = 0.015
"""Average fall of BAC in % (g/dL) per hour once drinking stops; people range about 0.010 to 0.020."""


@dataclass(frozen=True)
class BACtrackSnapshot:
    """The newest reading and the readings of the last 24 hours."""

    latest: Reading | None
    recent: tuple[Reading, ...]

    @property
    def sober_at(self) -> datetime | None:
        """When the newest BAC is back at 0.000 at the average elimination rate."""
        if self.latest is None or self.latest.bac <= 0:
            return None
        return self.latest.timestamp + timedelta(hours=self.latest.bac / ELIMINATION_RATE)

    @property
    def location(self) -> str | None:
        """Where the newest reading was taken, as latitude and longitude."""
        if self.latest is None or self.latest.location is None:
            return None
        latitude, longitude = self.latest.location
        return f"{latitude:.5f}, {longitude:.5f}"


class BACtrackTracker(AccountTracker[BACtrackClient, BACtrackSnapshot]):
    """Keeps the last 24 hours of readings (and always the newest one)."""

    def __init__(self, client: BACtrackClient, account: str) -> None:
        """Nothing read yet."""
        super().__init__(client, account)
        self._readings: list[Reading] = []
        """Newest first."""

    async def async_poll(self, since: Cursor | None) -> Polled[BACtrackSnapshot]:
        """Read what is new since the newest kept reading (and ``since``), then compute the sensors.

        The first poll reads the last 24 hours, or back to ``since`` if that is older. Kept
        readings newer than the one the read stopped at were deleted at BACtrack.
        """
        now = dt_util.utcnow()
        since_window = now - WINDOW
        bound = Cursor.of(self._readings[0]) if self._readings else Cursor(since_window, "")
        if since is not None and since < bound:
            bound = since
        found = await self.client.async_records_since(
            bound, first_page=FIRST_PAGE, max_pages=MAX_PAGES
        )
        reached = found.reached
        kept = [r for r in self._readings if reached and r.timestamp <= reached.timestamp]
        unique = {reading.id: reading for reading in (*kept, *found.records)}
        readings = sorted(unique.values(), key=lambda reading: reading.timestamp, reverse=True)
        self._readings = readings[:1] + [r for r in readings[1:] if r.timestamp >= since_window]
        snapshot = BACtrackSnapshot(
            latest=self._readings[0] if self._readings else None,
            recent=tuple(r for r in self._readings if r.timestamp >= since_window),
        )
        return new_records(snapshot, found, since, "BACtrack readings")


def _peak(snapshot: BACtrackSnapshot) -> float | None:
    return max((reading.bac for reading in snapshot.recent), default=None)


SENSORS: tuple[HealthTrackersSensorDescription[BACtrackSnapshot], ...] = (
    describe_sensor(
        "bac",
        lambda snapshot: snapshot.latest.bac if snapshot.latest else None,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
    ),
    describe_sensor(
        "last_reading",
        lambda snapshot: snapshot.latest.timestamp if snapshot.latest else None,
        device_class=SensorDeviceClass.TIMESTAMP,
    ),
    # Time alone changes the 24-hour figures: no value from before a restart stands in for them.
    describe_sensor(
        "peak_bac_24h",
        _peak,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        restorable=False,
    ),
    describe_sensor(
        "readings_24h",
        lambda snapshot: len(snapshot.recent),
        state_class=SensorStateClass.MEASUREMENT,
        restorable=False,
    ),
    describe_sensor(
        "sober_at",
        lambda snapshot: snapshot.sober_at,
        device_class=SensorDeviceClass.TIMESTAMP,
    ),
)

PERSONAL_SENSORS: tuple[HealthTrackersSensorDescription[BACtrackSnapshot], ...] = (
    describe_sensor("location", lambda snapshot: snapshot.location),
    describe_sensor("notes", lambda snapshot: snapshot.latest.notes if snapshot.latest else None),
)


def _reading_data(reading: Reading) -> EventData:
    """A reading's BAC and when it would be back at 0.000, as its sensors would show them.

    The sober time is the reading's own, not the newest reading's that the sensor shows: an
    automation for an earlier reading of the same poll still gets its own estimate.
    """
    return sensor_values(
        (d for d in SENSORS if d.key in ("bac", "sober_at")),
        BACtrackSnapshot(latest=reading, recent=(reading,)),
    )


EVENT: HealthTrackersEventDescription[Reading] = describe_event(
    "new_reading",
    _reading_data,
    lambda reading: {
        "latitude": reading.location[0] if reading.location else None,
        "longitude": reading.location[1] if reading.location else None,
        "notes": reading.notes,
    },
)

STATISTICS: tuple[HealthTrackersStatisticDescription[Reading], ...] = (
    describe_statistic(
        "bac", lambda reading: reading.bac, PERCENTAGE, translation_key="bac_statistic"
    ),
    describe_statistic("readings", lambda reading: 1.0, None, summed=True),
)

BACTRACK = Provider(
    service="bactrack",
    name="BACtrack",
    default_origin="https://mobile.bactrack.com",
    update_interval=timedelta(minutes=5),
    client_type=BACtrackClient,
    tracker_type=BACtrackTracker,
    sensors=SENSORS,
    personal_sensors=PERSONAL_SENSORS,
    event=EVENT,
    statistics=STATISTICS,
    oauth1=OAuth1Settings(
        request_token_path="/oauth/request_token/",
        authorize_path="/oauth/authorize/",
        access_token_path="/oauth/access_token/",
    ),
    configuration_url="https://www.bactrack.com",
)
