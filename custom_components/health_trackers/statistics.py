"""Records as long-term statistics: one row per statistic and hour, where a person looks for them.

Each hour a record was measured in (UTC hours: records come in any offset, ``-02:30`` included)
holds, per statistic, the mean, min and max of its records' values, or their total and a running
sum. Running sums are anchored at the account's *boundary*: an hour fixed when the account was
added (``history.WINDOW`` before it). A row's sum is the total of every record from the boundary
to the end of its hour; before the boundary it is minus the total from the end of its hour to the
boundary. So the backfill, walking back from the boundary, and the window, going forward from it,
each compute their rows alone, and reading a record twice writes the same row again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
import math
from typing import Any

from homeassistant.components.recorder import DOMAIN as RECORDER_DOMAIN, get_instance
from homeassistant.components.recorder.models import StatisticData, StatisticMetaData
from homeassistant.components.recorder.statistics import (
    STATISTIC_UNIT_TO_UNIT_CONVERTER,
    async_add_external_statistics,
    async_import_statistics,
    get_metadata,
)
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import slugify

from .clients.base import Record
from .compat import statistic_metadata
from .const import DOMAIN, LOGGER
from .providers.base import HealthTrackersStatisticDescription

Values = dict[str, float]
"""A record's value of each statistic, by the statistic's key."""
Rows = dict[str, list[StatisticData]]
"""Rows to write, by the statistic's key."""


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour ``at`` lies in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def values_of(
    descriptions: Iterable[HealthTrackersStatisticDescription[Any]], record: Record
) -> Values:
    """What ``record`` adds to each statistic; statistics it has no (finite) value for are left out."""
    return {
        description.key: value
        for description in descriptions
        if (value := description.value_fn(record)) is not None and math.isfinite(value)
    }


@dataclass
class Bucket:
    """The values one statistic got in one hour."""

    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, value: float) -> None:
        """Count one more value."""
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def as_list(self) -> list[float]:
        """As the store keeps it."""
        return [self.count, self.total, self.low, self.high]

    @classmethod
    def from_list(cls, stored: object) -> Bucket | None:
        """A bucket the store kept; None when it cannot be read."""
        if not isinstance(stored, list) or len(stored) != 4:
            return None
        if not all(isinstance(number, int | float) for number in stored):
            return None
        return cls(int(stored[0]), float(stored[1]), float(stored[2]), float(stored[3]))


@dataclass
class Hour:
    """The buckets of one hour, by statistic key."""

    start: datetime
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def add(self, values: Values) -> None:
        """Count one record's values."""
        for key, value in values.items():
            self.buckets.setdefault(key, Bucket()).add(value)


def row(
    description: HealthTrackersStatisticDescription[Any],
    start: datetime,
    bucket: Bucket | None,
    running_sum: float,
) -> StatisticData:
    """The row of one statistic for the hour ``start``.

    Without a bucket (its records were deleted), a mean statistic's row holds no value and a
    summed one's adds nothing.
    """
    if description.summed:
        return StatisticData(start=start, state=bucket.total if bucket else 0.0, sum=running_sum)
    if bucket is None:
        return StatisticData(start=start, mean=None, min=None, max=None)  # type: ignore[typeddict-item]
    return StatisticData(
        start=start, mean=bucket.total / bucket.count, min=bucket.low, max=bucket.high
    )


def hourly_means(
    descriptions: Iterable[HealthTrackersStatisticDescription[Any]], records: Iterable[Record]
) -> Rows:
    """The rows of measures (no sums) for every hour ``records`` were measured in."""
    hours: dict[datetime, Hour] = {}
    for record in records:
        start = hour_of(record.measured_at)
        hours.setdefault(start, Hour(start)).add(values_of(descriptions, record))
    return {
        description.key: [
            row(description, start, hour.buckets[description.key], 0.0)
            for start, hour in sorted(hours.items())
            if description.key in hour.buckets
        ]
        for description in descriptions
    }


def statistic_id(unique_id: str, key: str) -> str:
    """``health_trackers:<service>_<account>_<key>`` in the characters a statistic id allows."""
    return f"{DOMAIN}:{slugify(f'{unique_id}_{key}')}"


@dataclass(frozen=True)
class SensorUnit:
    """The unit a sensor's statistics are kept in, and how a value in ours becomes one in it."""

    unit: str | None
    convert: Callable[[float], float]


class StatisticsWriter:
    """Writes an account's rows where a person looks for them.

    A measure (weight, BAC) is its sensor's: the rows go into the sensor's own statistics, so its
    graph and the History panel show the years before the account was added. The hours from
    ``sensors_since`` on are the recorder's, compiled from the sensor's states; rows for them are
    dropped. A total (workouts, distance) has no sensor of its own: it is an external statistic,
    ``health_trackers:<service>_<account>_<key>``, named for what it counts.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        unique_id: str,
        title: str,
        descriptions: tuple[HealthTrackersStatisticDescription[Any], ...],
        sensors_since: datetime,
    ) -> None:
        """Nothing written yet; ``async_prepare`` reads names and units."""
        self._hass = hass
        self._unique_id = unique_id
        self._title = title
        self.descriptions = {description.key: description for description in descriptions}
        self.sensors_since = sensors_since
        self._names: Mapping[str, str] = {}
        self._units: dict[str, SensorUnit | None] = {}
        """By key, for sensors whose statistics exist; None: kept in a unit ours is not converted to."""

    async def async_prepare(self) -> None:
        """Totals' translated names; the unit each sensor's statistics are kept in.

        A sensor's statistics keep the unit of their first row, also after the user picked
        another (pounds for kilograms): a row in another unit is converted, or not written.
        """
        translations = await async_get_translations(
            self._hass, self._hass.config.language, "entity", {DOMAIN}
        )
        self._names = {
            key: translations.get(f"component.{DOMAIN}.entity.sensor.{key}.name", key)
            for key in self.descriptions
        }
        sensors = {
            entity_id: key
            for key, description in self.descriptions.items()
            if not description.summed and (entity_id := self.sensor_of(key)) is not None
        }
        kept = await get_instance(self._hass).async_add_executor_job(
            partial(get_metadata, self._hass, statistic_ids=set(sensors))
        )
        self._units = {
            sensors[entity_id]: self._sensor_unit(sensors[entity_id], metadata)
            for entity_id, (_, metadata) in kept.items()
        }

    def _sensor_unit(self, key: str, metadata: StatisticMetaData) -> SensorUnit | None:
        """The unit of the sensor's statistics; None when a value in ours cannot become one in it."""
        ours, theirs = self.descriptions[key].unit, metadata["unit_of_measurement"]
        if theirs == ours:
            return SensorUnit(ours, float)
        converter = STATISTIC_UNIT_TO_UNIT_CONVERTER.get(ours)
        if converter is None or theirs not in converter.VALID_UNITS:
            LOGGER.warning(
                "%s: the statistics of %s are kept in %s, which %s cannot be converted to;"
                " their history is not imported",
                self._title,
                key,
                theirs,
                ours,
            )
            return None
        return SensorUnit(theirs, converter.converter_factory(ours, theirs))

    def sensor_of(self, key: str) -> str | None:
        """The entity id of the sensor whose statistics hold the measure ``key``, if it exists."""
        return er.async_get(self._hass).async_get_entity_id(
            SENSOR_DOMAIN, DOMAIN, f"{self._unique_id}_{key}"
        )

    def statistic_id(self, key: str) -> str:
        """The id of the total ``key`` of this account."""
        return statistic_id(self._unique_id, key)

    def write(self, rows: Rows) -> None:
        """Queue the rows at the recorder, one call per statistic; a row written before is replaced."""
        for key, statistic_rows in rows.items():
            if self.descriptions[key].summed:
                self._write_total(key, statistic_rows)
            else:
                self._write_measure(key, statistic_rows)

    def _write_total(self, key: str, statistic_rows: list[StatisticData]) -> None:
        if not statistic_rows:
            return
        metadata = statistic_metadata(
            statistic_id=self.statistic_id(key),
            source=DOMAIN,
            name=f"{self._title} {self._names.get(key, key)}",
            unit=self.descriptions[key].unit,
            summed=True,
        )
        async_add_external_statistics(self._hass, metadata, statistic_rows)

    def _write_measure(self, key: str, statistic_rows: list[StatisticData]) -> None:
        entity_id = self.sensor_of(key)
        unit = self._units.get(key, SensorUnit(self.descriptions[key].unit, float))
        if entity_id is None or unit is None:
            return
        kept = [
            _converted(item, unit.convert)
            for item in statistic_rows
            if item["start"] < self.sensors_since
        ]
        if not kept:
            return
        metadata = statistic_metadata(
            statistic_id=entity_id, source=RECORDER_DOMAIN, name=None, unit=unit.unit, summed=False
        )
        async_import_statistics(self._hass, metadata, kept)

    def adjust(self, totals: Values, *, since: datetime) -> None:
        """Raise every running sum from ``since`` on by ``totals`` (queued after earlier rows)."""
        recorder = get_instance(self._hass)
        for key, total in totals.items():
            if total:
                unit = self.descriptions[key].unit
                recorder.async_adjust_statistics(self.statistic_id(key), since, total, unit)  # type: ignore[arg-type]

    def clear_external(self) -> None:
        """Remove the external statistics an earlier version wrote for every key, measures too."""
        get_instance(self._hass).async_clear_statistics(
            [self.statistic_id(key) for key in self.descriptions]
        )


def _converted(item: StatisticData, convert: Callable[[float], float]) -> StatisticData:
    """A measure's row in the sensor's statistics unit (a row without a value stays without)."""
    mean, low, high = item.get("mean"), item.get("min"), item.get("max")
    if mean is None or low is None or high is None:
        return item
    return StatisticData(
        start=item["start"], mean=convert(mean), min=convert(low), max=convert(high)
    )
