"""The tolerant readers every provider uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from custom_components.health_trackers.clients.boditrax import as_local_datetime, as_local_float
from custom_components.health_trackers.clients.parsing import (
    as_datetime,
    as_float,
    as_text,
)
from custom_components.health_trackers.clients.sporttracks import as_start_time
from custom_components.health_trackers.providers.sporttracks import SPORTTRACKS

from .conftest import ExpectedLog


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (2.5, 2.5),
        ("5758.16", 5758.16),
        (" 7 ", 7.0),
        ("", None),
        ("n/a", None),
        ("nan", None),
        ("inf", None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_as_float(value: object, expected: float | None) -> None:
    """Numbers and numeric strings read; the rest is None."""
    assert as_float(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Running", "Running"),
        ("  ", None),
        ("", None),
        (16964, "16964"),
        (None, None),
        (False, None),
    ],
)
def test_as_text(value: object, expected: str | None) -> None:
    """Blank strings and non-text are None."""
    assert as_text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2014-04-04T07:09:53+01:00", datetime(2014, 4, 4, 6, 9, 53, tzinfo=UTC)),
        ("2014-04-04T07:09:53Z", datetime(2014, 4, 4, 7, 9, 53, tzinfo=UTC)),
        ("2014-04-04T07:09:53", datetime(2014, 4, 4, 7, 9, 53, tzinfo=UTC)),
        ("2014-04-04T07:09:53-02:30", datetime(2014, 4, 4, 9, 39, 53, tzinfo=UTC)),
        ("2014-04-04 07:09:53+0530", datetime(2014, 4, 4, 1, 39, 53, tzinfo=UTC)),
        ("2024-01-15", datetime(2024, 1, 15, tzinfo=UTC)),
        ("2014-04-04T07:09:00+01", datetime(2014, 4, 4, 6, 9, tzinfo=UTC)),
        ("2014-04-04T07:09:00+01:00:00", datetime(2014, 4, 4, 6, 9, tzinfo=UTC)),
        ("2014-04-04T07:09:53+25:00", None),
        ("yesterday", None),
        ("", None),
        (1396595393, None),
        ("0001-01-01T00:00:00", None),  # a misreading: no time computed from it is valid
        ("9999-12-31T23:59:59Z", None),
    ],
)
def test_as_datetime(value: object, expected: datetime | None) -> None:
    """Offsets as services really write them; no offset means UTC."""
    assert as_datetime(value) == expected


@pytest.mark.parametrize(
    "value",
    ["2014-04-04T07:09:53-2:-30", "2014-04-04T07:09:53-02:-30", "2014-04-04T07:09:53-02:30"],
)
def test_sporttracks_offsets_are_kept(value: str) -> None:
    """SportTracks' negative half hours, as it writes them; the local offset survives, for
    display in the user's time zone."""
    parsed = as_start_time(value)
    assert parsed == datetime(2014, 4, 4, 9, 39, 53, tzinfo=UTC)
    assert parsed is not None
    assert parsed.utcoffset() == -timedelta(hours=2, minutes=30)
    assert parsed.tzinfo == timezone(-timedelta(hours=2, minutes=30))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "https://api.sporttracks.mobi"),
        ("https://staging.example.com/", "https://staging.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://sporttracks.example.com", "https://api.sporttracks.mobi"),
        ("ftp://127.0.0.1", "https://api.sporttracks.mobi"),
    ],
)
def test_development_origin(
    monkeypatch: pytest.MonkeyPatch,
    value: str | None,
    expected: str,
    expect_log: ExpectedLog,
) -> None:
    """The development variable may point at https or at this machine, nothing else."""
    expect_log("Ignoring HEALTH_TRACKERS_SPORTTRACKS_URL")
    if value is None:
        monkeypatch.delenv("HEALTH_TRACKERS_SPORTTRACKS_URL", raising=False)
    else:
        monkeypatch.setenv("HEALTH_TRACKERS_SPORTTRACKS_URL", value)
    assert SPORTTRACKS.origin == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("15/01/2024 08:15:30", datetime(2024, 1, 15, 8, 15, 30, tzinfo=UTC)),
        ("15/01/2024 08:15", datetime(2024, 1, 15, 8, 15, tzinfo=UTC)),
        ("1/15/2024 8:15:30 PM", datetime(2024, 1, 15, 20, 15, 30, tzinfo=UTC)),
        ("13.02.2024", datetime(2024, 2, 13, tzinfo=UTC)),
        ("2024-01-15T08:15:30+01:00", datetime(2024, 1, 15, 7, 15, 30, tzinfo=UTC)),
        ("15/15/2024", None),
        (None, None),
    ],
)
def test_as_local_datetime(value: object, expected: datetime | None) -> None:
    """Export dates: day first, or month first with AM/PM; no zone means UTC."""
    assert as_local_datetime(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("79,5", 79.5), ("79.5", 79.5), (80, 80.0), ("1,234,5", None), ("x", None)],
)
def test_as_local_float(value: object, expected: float | None) -> None:
    """A single decimal comma reads as a decimal point."""
    assert as_local_float(value) == expected
