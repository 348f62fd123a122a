"""Tolerant readers for what services send: numbers as strings, offsets, blanks, odd years.

A service's own quirks (Boditrax's export dates, SportTracks' negative half-hour offsets) are
read in its client.

Each returns None for anything it cannot read, so one bad field never loses the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
import math
import re
from typing import Any

# "+01:00", "+0100", "-02:30".
_OFFSET = re.compile(r"(?P<sign>[+-])(?P<hours>\d{2}):?(?P<minutes>\d{2})$")


def as_float(value: object) -> float | None:
    """A finite number from a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_count(value: object) -> int | None:
    """A count: a whole, non-negative number, also from a numeric string (``"12"``, ``"12.0"``)."""
    number = as_float(value)
    return int(number) if number is not None and number >= 0 and number.is_integer() else None


def as_text(value: object) -> str | None:
    """A non-blank string, stripped."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def as_list(answer: object, key: str) -> list[Any] | None:
    """A list the service sends bare, also when it comes wrapped in an object under ``key``."""
    if isinstance(answer, list):
        return answer
    if isinstance(answer, Mapping) and isinstance(inner := answer.get(key), list):
        return inner
    return None


EARLIEST_YEAR = 1970
LATEST_YEAR = 2100
"""Measurements outside these years are misreadings (year 1, 9999), not history."""


def plausible(moment: datetime | None) -> datetime | None:
    """``moment`` if its year is one a measurement can have; None otherwise."""
    return moment if moment and EARLIEST_YEAR <= moment.year <= LATEST_YEAR else None


def as_datetime(value: object) -> datetime | None:
    """An aware datetime from ISO 8601; a time without an offset is taken as UTC.

    Years outside 1970 to 2100 are not believed: such a time cannot be shown or computed with.
    """
    if not isinstance(value, str) or not (text := value.strip()):
        return None
    date_part, _, time_part = text.partition("T") if "T" in text else text.partition(" ")
    zone = UTC
    if time_part.endswith(("Z", "z")):
        time_part = time_part[:-1]
    elif match := _OFFSET.search(time_part):
        minutes = int(match["hours"]) * 60 + int(match["minutes"])
        if minutes >= 24 * 60:
            return None
        zone = timezone(timedelta(minutes=-minutes if match["sign"] == "-" else minutes))
        time_part = time_part[: match.start()]
    try:
        parsed = datetime.fromisoformat(f"{date_part}T{time_part or '00:00:00'}")
    except ValueError:
        return None
    return plausible(parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone))
