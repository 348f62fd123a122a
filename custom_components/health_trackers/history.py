"""An account's whole history in long-term statistics: the backfill and the re-read window.

When an account is added, its *boundary* is fixed: the start of the hour ``WINDOW`` before.

- The **backfill** imports every record before the boundary, back to ``HORIZON`` before it,
  newest first, a page (the largest the service allows) at a time, in the background after setup.
  Its progress is saved after every page, so a restart or an outage goes on from there.
- The **window** holds the records since its start (the boundary, later ``WINDOW`` back from
  now). It is read whole at every start and once a day, so a record edited, deleted or uploaded
  late is corrected in its hour; every poll's new records go into it at once, without a request.
  Records that leave it are folded into the running sums' base.

Both write through ``statistics``; a record read twice writes the same rows again. A measure's
hours from the account's addition on are its sensor's own (``StatisticsWriter``); once the window
has passed that hour and the provider has no totals, there is nothing left to read again.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_exception_message
from homeassistant.util import dt as dt_util

from .clients.base import Cursor, Record, ServiceClient
from .clients.exceptions import AuthenticationError, RateLimitedError, ServiceError
from .const import DOMAIN, LOGGER
from .coordinator import error_message
from .providers.base import HealthTrackersStatisticDescription, Measurement, Provider
from .statistics import (
    Bucket,
    Hour,
    Rows,
    StatisticsWriter,
    Values,
    hour_of,
    hourly_means,
    row,
    values_of,
)

STORE_VERSION = 2
WINDOW = timedelta(days=7)
"""How far back records are read again (daily and at every start) to correct their hours."""
HORIZON = timedelta(days=3653)
"""How far before the boundary the backfill reaches: ten years."""
REREAD_EVERY = timedelta(days=1)
RETRY_DELAYS = (60, 300, 900, 3600)
"""Seconds to wait after the 1st, 2nd, 3rd and every later failure in a row."""
FAILURES_BEFORE_REPAIR = 3
RECORDS_PER_STEP = 100
"""Records counted between two turns of the event loop, so a big page never holds it up."""


def history_issue_id(entry_id: str) -> str:
    """The repair issue that says an entry's history cannot be imported (``repairs.py`` fixes it)."""
    return f"history_failing_{entry_id}"


class HistoryStore(Store[dict[str, Any]]):
    """Where an entry's backfill progress and window place are kept."""

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        """1 → 2: measures moved from external statistics to their sensors' own.

        The account keeps its boundary; its history is imported again, into the new places,
        after the statistics version 1 wrote are cleared (``AccountHistory.async_load``).
        """
        return {"boundary": old_data.get("boundary"), "clear_external": True}


def history_store(hass: HomeAssistant, entry_id: str) -> HistoryStore:
    """The store of an entry's history."""
    return HistoryStore(hass, STORE_VERSION, f"{DOMAIN}.{entry_id}.history", private=True)


def _time(stored: object) -> datetime | None:
    parsed = dt_util.parse_datetime(stored) if isinstance(stored, str) else None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _values(stored: object) -> Values:
    if not isinstance(stored, dict):
        return {}
    return {
        str(key): float(value) for key, value in stored.items() if isinstance(value, int | float)
    }


@dataclass
class Backfill:
    """Where the backfill stands: the oldest record imported, and the hour it is in."""

    before: Cursor
    """Records before this one are still to import."""
    newer: Values = field(default_factory=dict)
    """Per summed statistic, the total of the records in the hours after ``hour`` (to the boundary)."""
    hour: Hour | None = None
    """The oldest hour reached; more of its records may be on the next page."""
    records: int = 0
    done: bool = False

    def add(
        self,
        records: list[Record],
        descriptions: dict[str, HealthTrackersStatisticDescription[Any]],
    ) -> Rows:
        """Count ``records`` (newest first, all before ``before``); the rows they change."""
        rows: Rows = {}
        for record in records:
            start = hour_of(record.measured_at)
            if self.hour is not None and start < self.hour.start:
                self._close(rows, descriptions)
            if self.hour is None or start < self.hour.start:
                self.hour = Hour(start)
            self.hour.add(values_of(descriptions.values(), record))
            self.before = Cursor.of(record)
            self.records += 1
        self._rows(rows, descriptions)
        return rows

    def finish(self, descriptions: dict[str, HealthTrackersStatisticDescription[Any]]) -> Values:
        """Nothing older is left to import: the totals of everything imported, per summed statistic.

        The oldest hour's rows are written already.
        """
        if self.hour is not None:
            self._close({}, descriptions)
        totals, self.newer, self.hour, self.done = self.newer, {}, None, True
        return totals

    def _rows(
        self, rows: Rows, descriptions: dict[str, HealthTrackersStatisticDescription[Any]]
    ) -> None:
        if self.hour is None:
            return
        for key, bucket in self.hour.buckets.items():
            description = descriptions[key]
            rows.setdefault(key, []).append(
                row(description, self.hour.start, bucket, -self.newer.get(key, 0.0))
            )

    def _close(
        self, rows: Rows, descriptions: dict[str, HealthTrackersStatisticDescription[Any]]
    ) -> None:
        """The oldest hour is complete: write it, and carry its totals into the newer ones."""
        assert self.hour is not None
        self._rows(rows, descriptions)
        for key, bucket in self.hour.buckets.items():
            if descriptions[key].summed:
                self.newer[key] = self.newer.get(key, 0.0) + bucket.total

    def as_dict(self) -> dict[str, Any]:
        """As the store keeps it."""
        return {
            "before": {"at": self.before.at.isoformat(), "id": self.before.id},
            "newer": self.newer,
            "hour": None
            if self.hour is None
            else {
                "start": self.hour.start.isoformat(),
                "buckets": {key: bucket.as_list() for key, bucket in self.hour.buckets.items()},
            },
            "records": self.records,
            "done": self.done,
        }

    @classmethod
    def from_dict(cls, stored: object, boundary: datetime) -> Backfill:
        """What the store kept; from the boundary again when it cannot be read."""
        fresh = cls(Cursor(boundary, ""))
        if not isinstance(stored, dict) or not isinstance(before := stored.get("before"), dict):
            return fresh
        at, hour = _time(before.get("at")), stored.get("hour")
        if at is None or not isinstance(before.get("id"), str):
            return fresh
        backfill = cls(
            Cursor(at, before["id"]),
            _values(stored.get("newer")),
            records=int(stored.get("records") or 0),
            done=stored.get("done") is True,
        )
        if isinstance(hour, dict) and (start := _time(hour.get("start"))) is not None:
            buckets = hour.get("buckets")
            backfill.hour = Hour(
                start,
                {
                    str(key): bucket
                    for key, stored_bucket in (buckets.items() if isinstance(buckets, dict) else ())
                    if (bucket := Bucket.from_list(stored_bucket)) is not None
                },
            )
        return backfill


@dataclass
class Window:
    """The records since ``start``, read again daily; their hours are rewritten from them."""

    start: datetime
    base: Values = field(default_factory=dict)
    """Per summed statistic, the total of the records from the boundary to ``start``."""
    written: dict[str, set[datetime]] = field(default_factory=dict)
    """The hours since ``start`` that have a row, per statistic: emptied ones are cleared."""
    records: dict[str, tuple[datetime, Values]] | None = None
    """By id; None until the window has been read since the start."""

    def replace(
        self,
        records: list[Record],
        descriptions: dict[str, HealthTrackersStatisticDescription[Any]],
        pending: list[Record],
    ) -> None:
        """What the service lists now, plus the records polls found meanwhile."""
        self.records = {}
        self.add([*records, *pending], descriptions)

    def add(
        self,
        records: list[Record],
        descriptions: dict[str, HealthTrackersStatisticDescription[Any]],
    ) -> None:
        """Records a poll found (those before ``start`` are counted already)."""
        assert self.records is not None
        for record in records:
            if record.measured_at >= self.start:
                self.records[record.id] = (
                    record.measured_at,
                    values_of(descriptions.values(), record),
                )

    def rows(self, descriptions: dict[str, HealthTrackersStatisticDescription[Any]]) -> Rows:
        """Every row since ``start``: hours with records, and hours that lost theirs."""
        assert self.records is not None
        hours: dict[datetime, Hour] = {}
        for at, values in self.records.values():
            start = hour_of(at)
            hours.setdefault(start, Hour(start)).add(values)
        rows: Rows = {}
        written: dict[str, set[datetime]] = {}
        for key, description in descriptions.items():
            running = self.base.get(key, 0.0)
            filled = {start for start, hour in hours.items() if key in hour.buckets}
            for start in sorted(filled | self.written.get(key, set())):
                bucket = hours[start].buckets.get(key) if start in hours else None
                running += bucket.total if bucket else 0.0
                rows.setdefault(key, []).append(row(description, start, bucket, running))
            if filled:
                written[key] = filled
        self.written = written
        return rows

    def slide(self, now: datetime) -> None:
        """Move the start to ``WINDOW`` before ``now``; what leaves is folded into the base."""
        assert self.records is not None
        start = hour_of(now - WINDOW)
        if start <= self.start:
            return
        for record_id, (at, values) in list(self.records.items()):
            if at < start:
                for key, value in values.items():
                    self.base[key] = self.base.get(key, 0.0) + value
                del self.records[record_id]
        self.written = {
            key: {hour for hour in hours if hour >= start} for key, hours in self.written.items()
        }
        self.start = start

    def as_dict(
        self, descriptions: dict[str, HealthTrackersStatisticDescription[Any]]
    ) -> dict[str, Any]:
        """As the store keeps it (the records themselves are read again at start)."""
        return {
            "start": self.start.isoformat(),
            "base": {key: value for key, value in self.base.items() if descriptions[key].summed},
            "written": {
                key: sorted(hour.isoformat() for hour in hours)
                for key, hours in self.written.items()
            },
        }

    @classmethod
    def from_dict(cls, stored: object, boundary: datetime) -> Window:
        """What the store kept; from the boundary again when it cannot be read."""
        if not isinstance(stored, dict) or (start := _time(stored.get("start"))) is None:
            return cls(boundary)
        written = stored.get("written")
        return cls(
            start,
            _values(stored.get("base")),
            {
                str(key): {hour for text in hours if (hour := _time(text)) is not None}
                for key, hours in (written.items() if isinstance(written, dict) else ())
                if isinstance(hours, list)
            },
        )


class AccountHistory:
    """The statistics of one account: its backfill, its window and what polls find."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        client: ServiceClient[Any, Any],
        provider: Provider[Any, Any],
    ) -> None:
        """Nothing read; ``async_load`` reads where an earlier run stopped."""
        self._hass = hass
        self._entry = entry
        self._entry_id = entry.entry_id
        self._title = entry.title
        self._service = provider.name
        self._client = client
        self.descriptions = {description.key: description for description in provider.statistics}
        """The account's statistics, by key."""
        self._measures = provider.measurement_statistics
        """The statistics of the series the service gives whole (``Provider.measurements``)."""
        self._measured: list[Measurement] = []
        self._measured_written = True
        self._prepared = False
        self._writer: StatisticsWriter | None = None
        self._store = history_store(hass, entry.entry_id)
        self.boundary: datetime | None = None
        self.backfill: Backfill | None = None
        self.window: Window | None = None
        self._pending: list[Record] = []
        self.failures = 0
        self.last_error: str | None = None
        self._timer: CALLBACK_TYPE | None = None
        self._window_read_at: datetime | None = None

    @property
    def writer(self) -> StatisticsWriter:
        """Where the rows go; known once loaded."""
        assert self._writer is not None
        return self._writer

    async def async_load(self) -> None:
        """Read where the backfill stopped and the window's place; a new account starts now.

        The sensors record from the hour the account was added (``WINDOW`` after the boundary).
        """
        stored = await self._store.async_load()
        boundary = _time(stored.get("boundary")) if isinstance(stored, dict) else None
        if boundary is None:
            boundary = hour_of(dt_util.utcnow() - WINDOW)
            stored = {}
        assert isinstance(stored, dict)
        self.boundary = boundary
        self._writer = StatisticsWriter(
            self._hass,
            self._entry.unique_id or self._entry_id,
            self._title,
            (*self.descriptions.values(), *self._measures),
            boundary + WINDOW,
        )
        self.backfill = Backfill.from_dict(stored.get("backfill"), boundary)
        self.window = Window.from_dict(stored.get("window"), boundary)
        if stored.get("clear_external") is True:
            # Queued before any row of the new import, and done once.
            self._writer.clear_external()
            await self._store.async_save(self._data())

    def _data(self) -> dict[str, Any]:
        assert self.boundary is not None
        assert self.backfill is not None
        assert self.window is not None
        return {
            "boundary": self.boundary.isoformat(),
            "backfill": self.backfill.as_dict(),
            "window": self.window.as_dict(self.descriptions),
        }

    @callback
    def receive(self, records: tuple[Record, ...]) -> None:
        """A poll's new records go into the window's hours at once (once it has been read)."""
        if not records or self.window is None or not self._window_writes():
            return
        if self.window.records is None:
            self._pending += records
            return
        self.window.add(list(records), self.descriptions)
        self.writer.write(self.window.rows(self.descriptions))
        self._store.async_delay_save(self._data, 1)

    @callback
    def receive_measurements(self, found: list[Measurement]) -> None:
        """Series read whole: their hours before the sensors' own go into the sensors' statistics.

        Written again only when the series changed (a value added, edited or deleted).
        """
        if found == self._measured:
            return
        self._measured, self._measured_written = found, False
        if self._prepared:
            self._write_measured()

    def _write_measured(self) -> None:
        if not self._measured_written:
            self.writer.write(hourly_means(self._measures, self._measured))
            self._measured_written = True

    @callback
    def start(self) -> None:
        """Import in the background from now on, as long as the entry is loaded."""
        self._entry.async_on_unload(self._stop)
        self._run()

    @callback
    def retry_now(self) -> None:
        """Try again at once instead of at the next try (the repair's "Submit").

        Nothing to do while an import runs (it raises the repair again if it fails), nor once
        an expired sign-in stopped it (reauth sets the entry up again).
        """
        if self._timer is not None:
            self._cancel_timer()
            self._run()

    @callback
    def _run(self, _now: datetime | None = None) -> None:
        self._timer = None
        self._entry.async_create_background_task(
            self._hass, self.async_run(), f"{DOMAIN} history of {self._title}"
        )

    @callback
    def _run_in(self, seconds: float) -> None:
        self._timer = async_call_later(
            self._hass, seconds, HassJob(self._run, cancel_on_shutdown=True)
        )

    @callback
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None

    @callback
    def _stop(self) -> None:
        """Unloaded: no next try, and no repair offering one."""
        self._cancel_timer()
        ir.async_delete_issue(self._hass, DOMAIN, history_issue_id(self._entry_id))

    async def async_run(self) -> None:
        """Read the window when due, then the backfill to its end; then wait for the next read.

        Failures wait (429: as long as the service asks) and try again; an expired sign-in
        stops here until the entry is set up again after reauth.
        """
        await self.writer.async_prepare()
        self._prepared = True
        self._write_measured()
        assert self.backfill is not None
        try:
            now = dt_util.utcnow()
            if self._window_due(now):
                await self._async_read_window()
                self._window_read_at = now
            if not self.backfill.done:
                await self._async_backfill()
        except AuthenticationError:
            self.last_error = "sign-in expired"
            return
        except ServiceError as err:
            self._run_in(self._failed(err))
            return
        self._recovered()
        self._run_in(REREAD_EVERY.total_seconds())

    def _window_writes(self) -> bool:
        """Whether the window's hours have rows to write: totals, or measures before the sensors'."""
        assert self.window is not None
        totals = any(description.summed for description in self.descriptions.values())
        return totals or self.window.start < self.writer.sensors_since

    def _window_due(self, now: datetime) -> bool:
        """A day after the last read, while the window has rows to write."""
        if self._window_read_at is not None and now - self._window_read_at < REREAD_EVERY:
            return False
        return self._window_writes()

    async def _async_read_window(self) -> None:
        """Read the window whole, rewrite its hours, then move it on."""
        assert self.window is not None
        listed, complete = await self._client.async_listed_between(self.window.start)
        if not complete and self.window.records is not None:
            LOGGER.debug("%s: window not read to its start; kept as it was", self._title)
            return
        self.window.replace(listed, self.descriptions, self._pending)
        self._pending = []
        self.writer.write(self.window.rows(self.descriptions))
        self.window.slide(dt_util.utcnow())
        await self._store.async_save(self._data())

    async def _async_backfill(self) -> None:
        """Page back from where the backfill stands to the horizon or the listing's end."""
        assert self.backfill is not None
        assert self.boundary is not None
        assert self.window is not None
        backfill = self.backfill
        horizon = self.boundary - HORIZON
        started = time.monotonic()
        LOGGER.info(
            "History of %s: import started (%s records imported before)",
            self._title,
            backfill.records,
        )
        pages = self._client.history_pages(backfill.before)
        async with aclosing(pages):
            async for page in pages:
                older = [item for item in page.items if Cursor.of(item) < backfill.before]
                kept = [item for item in older if item.measured_at >= horizon]
                for start in range(0, len(kept), RECORDS_PER_STEP):
                    chunk = kept[start : start + RECORDS_PER_STEP]
                    self.writer.write(backfill.add(chunk, self.descriptions))
                    await asyncio.sleep(0)  # a page of 1,000 records is not one long step
                ended = not page.more or len(kept) < len(older)
                if ended:
                    break
                await self._store.async_save(self._data())
        # Running sums started at 0 at the boundary and went negative backwards. Raised by the
        # whole history's total, the oldest hour's sum is its own value, as a graph expects.
        # The window's base and the rows written so far are raised in one step, with no await
        # between: a poll's rows written later carry the raise and are queued after the
        # adjustment, so none is raised twice.
        totals = backfill.finish(self.descriptions)
        for key, total in totals.items():
            self.window.base[key] = self.window.base.get(key, 0.0) + total
        self.writer.adjust(totals, since=horizon)
        await self._store.async_save(self._data())
        LOGGER.info(
            "History of %s: import done: %s records in %.0f s",
            self._title,
            backfill.records,
            time.monotonic() - started,
        )

    def _failed(self, err: ServiceError) -> float:
        """Seconds to wait before trying again; a repair after several failures in a row.

        The repair says what failed, in words, and when the next try comes; it is raised
        again at every later failure, so it shows the latest error (and comes back after a
        "Submit" that failed too).
        """
        self.failures += 1
        self.last_error = str(err) or type(err).__name__
        delay = float(RETRY_DELAYS[min(self.failures, len(RETRY_DELAYS)) - 1])
        if isinstance(err, RateLimitedError) and err.retry_after is not None:
            delay = max(delay, err.retry_after)
        LOGGER.debug("%s: history import waits %s s after: %s", self._title, delay, err)
        if self.failures >= FAILURES_BEFORE_REPAIR:
            error = async_get_exception_message(
                DOMAIN,
                error_message(err),
                {"service": self._service, "detail": self.last_error},
            )
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                history_issue_id(self._entry_id),
                is_fixable=True,
                severity=ir.IssueSeverity.WARNING,
                translation_key="history_failing",
                translation_placeholders={
                    "account": self._title,
                    "service": self._service,
                    "failures": str(self.failures),
                    "error": error,
                    "minutes": str(max(1, round(delay / 60))),
                },
                data={"entry_id": self._entry_id},
            )
        return delay

    def _recovered(self) -> None:
        """An import succeeded: its repair goes, also one raised before a reload."""
        ir.async_delete_issue(self._hass, DOMAIN, history_issue_id(self._entry_id))
        self.failures = 0
        self.last_error = None

    def diagnostics(self) -> dict[str, Any]:
        """Progress without health data: counts, states and ages."""
        backfill, window = self.backfill, self.window
        if backfill is None or window is None:
            return {"state": "off"}
        state = "done" if backfill.done else ("waiting" if self.failures else "running")
        return {
            "state": state,
            "records": backfill.records,
            "window_records": None if window.records is None else len(window.records),
            "statistics": sorted(self.descriptions),
            "measurements": len(self._measured),
            # From this hour on a measure's statistics are its sensor's, compiled by the recorder.
            "sensors_since": self.writer.sensors_since.isoformat(),
            "failures": self.failures,
            "last_error": self.last_error,
        }
