"""Records as long-term statistics: one row per statistic and hour, imported as external statistics.

Each hour a record was measured in (UTC hours: records come in any offset, ``-02:30`` included)
holds, per statistic, the mean, min and max of its records' values, or their total and a running
sum. Running sums are anchored at the account's *boundary*: an hour fixed when the account was
added (``history.WINDOW`` before it). A row's sum is the total of every record from the boundary
to the end of its hour; before the boundary it is minus the total from the end of its hour to the
boundary. So the backfill, walking back from the boundary, and the window, going forward from it,
each compute their rows alone, and reading a record twice writes the same row again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
import math
from typing import Any

from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.models import StatisticData
from homeassistant.components.recorder.statistics import async_add_external_statistics
from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import slugify

from .clients.base import Record
from .compat import statistic_metadata
from .const import DOMAIN
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


def statistic_id(unique_id: str, key: str) -> str:
    """``health_trackers:<service>_<account>_<key>`` in the characters a statistic id allows."""
    return f"{DOMAIN}:{slugify(f'{unique_id}_{key}')}"


class StatisticsWriter:
    """Writes an account's rows with the statistics' metadata (names in the user's language)."""

    def __init__(
        self,
        hass: HomeAssistant,
        unique_id: str,
        title: str,
        descriptions: tuple[HealthTrackersStatisticDescription[Any], ...],
    ) -> None:
        """Nothing written yet; ``async_load_names`` reads the translated names."""
        self._hass = hass
        self._unique_id = unique_id
        self._title = title
        self.descriptions = {description.key: description for description in descriptions}
        self._names: Mapping[str, str] = {}

    async def async_load_names(self) -> None:
        """Each statistic's translated name, from the sensor names of the integration."""
        translations = await async_get_translations(
            self._hass, self._hass.config.language, "entity", {DOMAIN}
        )
        self._names = {
            key: translations.get(
                f"component.{DOMAIN}.entity.sensor.{description.translation_key}.name", key
            )
            for key, description in self.descriptions.items()
        }

    def statistic_id(self, key: str) -> str:
        """The id of the statistic ``key`` of this account."""
        return statistic_id(self._unique_id, key)

    def write(self, rows: Rows) -> None:
        """Queue the rows at the recorder, one call per statistic; a row written before is replaced."""
        for key, statistic_rows in rows.items():
            if not statistic_rows:
                continue
            description = self.descriptions[key]
            metadata = statistic_metadata(
                statistic_id=self.statistic_id(key),
                source=DOMAIN,
                name=f"{self._title} {self._names.get(key, key)}",
                unit=description.unit,
                summed=description.summed,
            )
            async_add_external_statistics(self._hass, metadata, statistic_rows)

    def adjust(self, totals: Values, *, since: datetime) -> None:
        """Raise every running sum from ``since`` on by ``totals`` (queued after earlier rows)."""
        recorder = get_instance(self._hass)
        for key, total in totals.items():
            if total:
                unit = self.descriptions[key].unit
                recorder.async_adjust_statistics(self.statistic_id(key), since, total, unit)  # type: ignore[arg-type]
