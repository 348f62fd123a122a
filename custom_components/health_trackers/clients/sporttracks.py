"""SportTracks (sporttracks.mobi): workouts, over OAuth 2.0 bearer tokens.

What SportTracks sends (docs/service-contracts.md): ``POST /api/v2/system/connect`` names the user;
``/api/v2/fitnessActivities`` lists workouts newest first (numbers as strings, ``next`` absent on
the last page), asked with ``data=summary`` so that each item carries its energy, and each item's
``uri`` leads to the workout's detail, the place the integration takes heart rates, elevation
and speed from. ``/api/v2/metrics`` holds the person's health metrics (``HealthMetrics``).

Writing: ``POST /api/v2/metrics`` is an upsert (sending a value twice is harmless);
``POST /api/v2/fitnessActivities`` creates a workout each time it is sent, so a caller that lost
the answer looks for it (``async_workout_starting``) rather than sending it again.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import re
from typing import Any

from .base import Account, Page, ServiceClient, index_pages, read_page
from .parsing import as_datetime, as_float, as_text

ACTIVITIES = "/api/v2/fitnessActivities"
METRICS = "/api/v2/metrics"
SUMMARY = {"data": "summary"}
"""Asks the list for each workout's summary statistics (its energy), not only its base fields."""
CONNECT = "/api/v2/system/connect"
_TRAILING_NUMBER = re.compile(r"(\d+)/?$")
# SportTracks writes negative half-hour offsets as "-2:-30" or "-02:-30".
_NEGATIVE_MINUTES = re.compile(r"(?P<sign>[+-])(?P<hours>\d{1,2}):-(?P<minutes>\d{2})$")


_SUBTYPES = {
    "Running": (
        *("Hashing", "Hills", "Intervals", "Orienteering", "Race", "Road", "Snowshoe", "Speed"),
        *("Stair", "Track", "Trail", "Treadmill"),
    ),
    "Cycling": (
        *("Hills", "Indoor", "Intervals", "Mountain", "Race", "Road", "Rollers", "Spinning"),
        *("Track", "Trainer"),
    ),
    "Swimming": ("Open Water", "Pool", "Race"),
    "Walking": ("Geocaching", "Hiking", "Nordic", "Photography", "Snowshoe", "Treadmill"),
    "Skiing": ("Alpine", "Nordic", "Roller", "Snowboard"),
    "Rowing": (
        *("Canoe", "Kayak", "Kitesurf", "Ocean Kayak", "Rafting", "Rowing Machine", "Sailing"),
        *("Standup Paddling", "Windsurf"),
    ),
    "Skating": ("Board", "Ice", "Inline", "Race", "Track"),
    "Gym": (
        *("Aerobics", "Elliptical", "Plyometrics", "Rowing Machine", "Spinning", "Stair Climber"),
        *("Stationary Bike", "Strength", "Stretching", "Treadmill", "Yoga"),
    ),
    "Other": (
        *("Basketball", "Boxing", "Climbing", "Driving", "Flying", "Football", "Gardening"),
        *("Kitesurf", "Sailing", "Soccer", "Tennis", "Volleyball", "Windsurf"),
    ),
}
WORKOUT_TYPES = tuple(
    kind
    for category, subtypes in _SUBTYPES.items()
    for kind in (category, *(f"{category}: {subtype}" for subtype in subtypes))
)
"""SportTracks' workout types, ``Category`` or ``Category: Subtype``, as its answers spell them
(docs/service-contracts.md; tapiriik's list, its "Showshoe" read as the snowshoe it means)."""


def as_start_time(value: object) -> datetime | None:
    """A start time as SportTracks writes it, its odd negative half-hour offsets included."""
    if isinstance(value, str) and (odd := _NEGATIVE_MINUTES.search(value.strip())):
        value = (
            f"{value.strip()[: odd.start()]}{odd['sign']}{int(odd['hours']):02}:{odd['minutes']}"
        )
    return as_datetime(value)


@dataclass(frozen=True, kw_only=True)
class WorkoutSummary:
    """A workout as the list shows it."""

    id: str
    """The number at the end of its ``uri``; a workout without a link is known by its start."""
    uri: str | None
    start: datetime
    """When it started, in the offset it was recorded in."""
    type: str | None
    """As SportTracks names it: ``Running``, ``Cycling: Mountain``, …"""
    name: str | None
    duration: float | None
    """Moving time, s."""
    distance: float | None
    """m; None for workouts without distance."""
    energy: float | None
    """kJ (SportTracks calls it ``calories``); None where the list does not say."""
    clock_duration: float | None = None
    """Elapsed time, pauses included, s."""
    avg_heart_rate: float | None = None
    """bpm"""
    max_heart_rate: float | None = None
    """bpm"""
    elevation_gain: float | None = None
    """m"""
    avg_speed: float | None = None
    """m/s"""

    @property
    def measured_at(self) -> datetime:
        """When the workout started."""
        return self.start

    @classmethod
    def parse(cls, item: object) -> WorkoutSummary | None:
        """A list item, or None when it is not an object or its start cannot be read."""
        if (
            not isinstance(item, Mapping)
            or (start := as_start_time(item.get("start_time"))) is None
        ):
            return None
        uri = as_text(item.get("uri"))
        number = _TRAILING_NUMBER.search(uri.partition("?")[0]) if uri else None
        return cls(
            id=number[1] if number else uri or start.isoformat(),
            uri=uri,
            start=start,
            type=as_text(item.get("type")),
            name=as_text(item.get("name")),
            duration=as_float(item.get("duration")),
            distance=as_float(item.get("total_distance")),
            energy=as_float(item.get("calories")),
            clock_duration=as_float(item.get("clock_duration")),
            avg_heart_rate=as_float(item.get("avg_heartrate")),
            max_heart_rate=as_float(item.get("max_heartrate")),
            elevation_gain=as_float(item.get("elevation_gain")),
            avg_speed=as_float(item.get("avg_speed")),
        )


@dataclass(frozen=True, kw_only=True)
class Workout(WorkoutSummary):
    """A workout with its detail, where every value the list may lack is (any may be missing)."""

    @classmethod
    def of(cls, summary: WorkoutSummary, detail: Mapping[str, Any]) -> Workout:
        """The detail, completed by the list item where the detail lacks a value."""

        def number(key: str, listed: float | None = None) -> float | None:
            value = as_float(detail.get(key))
            return listed if value is None else value

        return cls(
            id=summary.id,
            uri=summary.uri,
            start=as_start_time(detail.get("start_time")) or summary.start,
            type=as_text(detail.get("type")) or summary.type,
            name=as_text(detail.get("name")) or summary.name,
            duration=number("duration", summary.duration),
            distance=number("total_distance", summary.distance),
            energy=number("calories", summary.energy),
            clock_duration=number("clock_duration", summary.clock_duration),
            avg_heart_rate=number("avg_heartrate", summary.avg_heart_rate),
            max_heart_rate=number("max_heartrate", summary.max_heart_rate),
            elevation_gain=number("elevation_gain", summary.elevation_gain),
            avg_speed=number("avg_speed", summary.avg_speed),
        )


@dataclass(frozen=True)
class HealthMetrics:
    """A person's health metrics, each a series of (when, value), oldest first.

    ``GET /api/v2/metrics`` answers an object keyed by metric id, each an array of ``[timestamp,
    value]``; known ids: ``weight`` (kg), ``bodyFat`` (a fraction: 0.078 is 7.8 %),
    ``restingHeartrate`` (bpm). An id, an entry or a value that cannot be read is left out.
    """

    series: Mapping[str, tuple[tuple[datetime, float], ...]]

    @classmethod
    def parse(cls, answer: object) -> HealthMetrics | None:
        """The metrics of an answer; None when it is not an object."""
        if not isinstance(answer, Mapping):
            return None
        series: dict[str, tuple[tuple[datetime, float], ...]] = {}
        for metric, entries in answer.items():
            if not isinstance(metric, str) or not isinstance(entries, list):
                continue
            found = {
                at: value
                for entry in entries
                if isinstance(entry, list | tuple)
                and len(entry) == 2  # [timestamp, value]
                and (at := as_datetime(entry[0])) is not None
                and (value := as_float(entry[1])) is not None
            }
            series[metric] = tuple(sorted(found.items()))
        return cls(series)

    def latest(self, metric: str) -> tuple[datetime, float] | None:
        """The newest value of ``metric`` and when it was measured."""
        values = self.series.get(metric)
        return values[-1] if values else None


@dataclass(frozen=True, kw_only=True)
class WorkoutUpload:
    """A workout to create, in SportTracks' units."""

    start: datetime
    type: str
    """One of ``WORKOUT_TYPES``."""
    duration: float
    """s; sent as moving and elapsed time (without a moving time SportTracks shows it all as
    stopped)."""
    distance: float | None = None
    """m"""
    energy: float | None = None
    """kJ"""
    avg_heart_rate: float | None = None
    """bpm"""
    name: str | None = None
    notes: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The upload's body: the fields it has, its start in its own offset, to the second."""
        body: dict[str, Any] = {
            "start_time": self.start.replace(microsecond=0).isoformat(),
            "type": self.type,
            "duration": self.duration,
            "clock_duration": self.duration,
            "total_distance": self.distance,
            "calories": self.energy,
            "avg_heartrate": self.avg_heart_rate,
            "name": self.name,
            "notes": self.notes,
        }
        return {key: value for key, value in body.items() if value is not None}


def utc_text(at: datetime) -> str:
    """An instant as SportTracks' metrics write it: UTC, to the second, ``Z``."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class SportTracksClient(ServiceClient[WorkoutSummary, Workout]):
    """A SportTracks user and their workouts."""

    page_size = 100
    """The most ``pageSize`` SportTracks answers."""

    async def async_get_account(self) -> Account:
        """``POST /system/connect`` names the user the token belongs to."""
        answer = await self.api.async_request("POST", CONNECT)
        user = answer.get("user") if isinstance(answer, dict) else None
        if not isinstance(user, dict) or (uid := as_text(user.get("uid"))) is None:
            raise self.api.unexpected("the user's id")
        return Account(id=uid)

    async def _pages(
        self, first: int, size: int, before: datetime | None
    ) -> AsyncGenerator[Page[WorkoutSummary]]:
        """Pages by index; ``before`` becomes ``noLaterThan``."""
        for page_size, index in index_pages(first, size):
            params = {"pageSize": str(page_size), **SUMMARY}
            if index:
                params["page"] = str(index)
            if before is not None:
                params["noLaterThan"] = before.isoformat()
            page = await self._async_list(params)
            yield page
            if not page.more:
                return

    async def _async_list(self, params: dict[str, str]) -> Page[WorkoutSummary]:
        """One page of the list; ``next`` absent or a short page ends it."""
        answer = await self.api.async_request("GET", ACTIVITIES, params=params)
        if not isinstance(answer, dict) or not isinstance(items := answer.get("items"), list):
            raise self.api.unexpected("a list of workouts under items")
        size = as_float(answer.get("size"))
        more = bool(answer.get("next")) and len(items) >= int(params["pageSize"])
        return read_page(
            items, WorkoutSummary.parse, more=more, total=None if size is None else int(size)
        )

    async def async_workout(self, summary: WorkoutSummary) -> Workout:
        """A listed workout with its detail (one request; none for an item without a link)."""
        if summary.uri is None:
            return Workout.of(summary, {})
        detail = await self.api.async_request("GET", summary.uri)
        if not isinstance(detail, dict):
            raise self.api.unexpected("the workout (an object)")
        return Workout.of(summary, detail)

    async def async_complete(self, listed: WorkoutSummary) -> Workout:
        """The workout with its detail, where heart rates, elevation and speed are read from."""
        return await self.async_workout(listed)

    async def async_get_metrics(self) -> HealthMetrics:
        """The person's health metrics (one request)."""
        if (metrics := HealthMetrics.parse(await self.api.async_request("GET", METRICS))) is None:
            raise self.api.unexpected("an object of metrics")
        return metrics

    async def async_set_metrics(self, at: datetime, values: Mapping[str, float]) -> None:
        """Store ``values`` (by metric id, each in its unit) as measured at ``at``.

        One request, all or nothing; an upsert, so sending the same values again changes nothing.
        Whatever a successful answer holds is not needed.
        """
        body = {"timestamp": utc_text(at), **values}
        await self.api.async_request_body("POST", METRICS, json_body=body)

    async def async_upload_workout(self, workout: WorkoutUpload) -> WorkoutSummary:
        """Create ``workout``; as listed, with the id and link the answer gives it.

        Never repeated here: every call that reaches SportTracks creates a workout.
        """
        body = workout.as_json()
        answer = await self.api.async_request("POST", ACTIVITIES, json_body=body)
        uris = answer.get("uris") if isinstance(answer, dict) else None
        created = WorkoutSummary.parse(
            {**body, "uri": uris[0]} if isinstance(uris, list) and uris else {}
        )
        if created is None or created.uri is None:
            raise self.api.unexpected("the new workout's address under uris")
        return created

    async def async_workout_starting(self, start: datetime) -> WorkoutSummary | None:
        """The workout that starts at ``start`` (to the second), if SportTracks lists one."""
        start = start.replace(microsecond=0)
        listed, _ = await self.async_listed_between(start, start + timedelta(seconds=1))
        return next((workout for workout in listed if workout.start == start), None)
