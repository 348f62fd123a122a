"""BACtrack: each reading's BAC, and the last 24 hours of them, as sensors.

An idle poll reads the newest few readings, which hold the newest one already known, so it is one
small request; after many new readings, pages of the largest size follow down to the known one
(after a start, also 24 hours back). The tracker keeps the last 24 hours (and always the newest
reading) and recomputes the 24-hour figures at every poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import PERCENTAGE
from homeassistant.util import dt as dt_util

from ..clients.bactrack import BACtrackClient, Reading
from ..clients.base import RecordsSince
from ..clients.oauth1 import OAuth1Settings
from .base import (
    CalendarItem,
    HealthTrackersEventDescription,
    HealthTrackersSensorDescription,
    HealthTrackersStatisticDescription,
    Provider,
    RecordField,
    RecordTracker,
    describe_calendar,
    describe_event,
    describe_sensor,
    describe_statistic,
)

FIRST_PAGE = 10
"""Readings of a poll's first request: an evening's readings between two polls fit in it, so a
poll stays one small request; more readings are read in pages of the client's largest."""
WINDOW = timedelta(hours=24)
ELIMINATION_RATE = 0.015
"""Average fall of BAC in % (g/dL) per hour once drinking stops; people range about 0.010 to 0.020."""
SESSION_GAP = timedelta(hours=3)
"""Readings above zero this close together (or before the last one's sober time) are one session."""


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


class BACtrackTracker(RecordTracker[BACtrackClient, BACtrackSnapshot]):
    """Keeps the last 24 hours of readings (and always the newest one)."""

    probe = start_page = FIRST_PAGE

    def __init__(self, client: BACtrackClient, account: str) -> None:
        """Nothing read yet."""
        super().__init__(client, account)
        self._readings: list[Reading] = []
        """Newest first."""

    def _window_start(self) -> datetime:
        return dt_util.utcnow() - WINDOW

    async def _async_keep(self, found: RecordsSince[Reading, Reading]) -> BACtrackSnapshot:
        """The kept readings brought up to date; those older than 24 hours go (but the newest)."""
        since_window = dt_util.utcnow() - WINDOW
        readings = found.merged(self._readings)
        self._readings = readings[:1] + [r for r in readings[1:] if r.timestamp >= since_window]
        return BACtrackSnapshot(
            latest=self._readings[0] if self._readings else None,
            recent=tuple(r for r in self._readings if r.timestamp >= since_window),
        )


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


def _sober_at(reading: Reading) -> datetime | None:
    """When ``reading``'s BAC is back at 0.000 at the average elimination rate."""
    return BACtrackSnapshot(latest=reading, recent=(reading,)).sober_at


RECORD_FIELDS: tuple[RecordField[Reading], ...] = (
    RecordField("bac", lambda reading: reading.bac, digits=4),
    # The reading's own sober time, not the newest reading's that the sensor shows: an
    # automation for an earlier reading of the same poll still gets its own estimate.
    RecordField("sober_at", _sober_at),
)
"""% BAC, and when it would be back at 0.000."""

EVENT: HealthTrackersEventDescription[Reading] = describe_event(
    "new_reading",
    summary_fn=lambda reading: f"{reading.bac:.3f} %",
    personal_fields=(
        RecordField("latitude", lambda reading: reading.location[0] if reading.location else None),
        RecordField("longitude", lambda reading: reading.location[1] if reading.location else None),
        RecordField("notes", lambda reading: reading.notes),
    ),
)


def _sessions(readings: Sequence[Reading]) -> list[CalendarItem]:
    """Drinking sessions, from the first reading to the last sober time: "0.080 % · readings: 4".

    A session is readings above zero, each less than ``SESSION_GAP`` after the one before or
    taken before the session's sober time; its summary has the peak BAC and how many readings.
    """
    sessions: list[list[Reading]] = []
    for reading in sorted((r for r in readings if r.bac > 0), key=lambda r: r.timestamp):
        last = sessions[-1][-1] if sessions else None
        if last is None or reading.timestamp >= max(
            last.timestamp + SESSION_GAP, _session_end(sessions[-1])
        ):
            sessions.append([reading])
        else:
            sessions[-1].append(reading)
    return [
        CalendarItem(
            uid=session[0].id,
            start=session[0].timestamp,
            end=_session_end(session),
            summary=f"{max(r.bac for r in session):.3f} % · {{unit_readings_24h}}: {len(session)}",
            description="\n".join(
                f"{dt_util.as_local(r.timestamp):%H:%M} {r.bac:.3f} %" for r in session
            ),
        )
        for session in sessions
    ]


def _session_end(session: Sequence[Reading]) -> datetime:
    """When the session's readings say its BAC is back at 0.000."""
    return max(
        reading.timestamp + timedelta(hours=reading.bac / ELIMINATION_RATE) for reading in session
    )


STATISTICS: tuple[HealthTrackersStatisticDescription[Reading], ...] = (
    describe_statistic("bac", lambda reading: reading.bac, PERCENTAGE),
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
    record_fields=RECORD_FIELDS,
    event=EVENT,
    statistics=STATISTICS,
    calendar=describe_calendar(
        "drinking_sessions",
        _sessions,
        lambda snapshot: cast(BACtrackSnapshot, snapshot).recent,
        WINDOW,
    ),
    oauth1=OAuth1Settings(
        request_token_path="/oauth/request_token/",
        authorize_path="/oauth/authorize/",
        access_token_path="/oauth/access_token/",
    ),
    configuration_url="https://www.bactrack.com",
)
