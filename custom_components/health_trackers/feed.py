"""Each new record once, in order: the cursor of the newest record delivered, kept on disk.

A poll reads from the feed's ``position`` (the newest record it was handed) and hands on every
record newer than it (``Polled.new``): the client alone decides what is new in a listing, nothing
here filters it again. Series a service gives whole at each read (health metrics) have no listing
to read down: their records newer than ``position`` are new (``receive_whole``). Those wait here
until the account's event entity fires them (``deliver``); the cursor then moves to the last one
fired and is written to the entry's store right away, so a restart, reload, reauth or outage
neither repeats nor skips a record. An account's first poll ever finds no record new: the cursor
starts at the newest record the service has then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .clients.base import Cursor, Record
from .const import DOMAIN, LOGGER
from .providers.base import Polled

STORE_VERSION = 1
BEFORE_ANY = Cursor(datetime.min.replace(tzinfo=UTC), "")
"""The cursor of an account that had no record when it was added: every record is new."""

Sink = Callable[[Sequence[Record]], None]


class RecordFeed:
    """The records of one entry not yet fired, and the cursor of the newest one fired."""

    def __init__(self, hass: HomeAssistant, entry_id: str, kind: str = "events") -> None:
        """The entry's feed of ``kind`` (its records' "events", its "measurements").

        ``async_load`` reads its cursor.
        """
        self._hass = hass
        self._store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, f"{DOMAIN}.{entry_id}.{kind}", private=True
        )
        self.cursor: Cursor | None = None
        """The newest record delivered; None before the account's first successful poll ever."""
        self.carried_over = False
        """Whether the store held a cursor: the account fired (or could have) in an earlier run.
        A new entry's event entity restores nothing, though its entity id may be a removed
        entry's whose last event Home Assistant still remembers."""
        self.pending: list[Record] = []
        """Records handed on by polls and not fired yet, oldest first."""
        self._sink: Sink | None = None
        self._saving: asyncio.Task[None] | None = None

    async def async_load(self) -> None:
        """Read the cursor an earlier run left (none for a new account).

        One that cannot be read counts as none: the cursor starts over at the newest record,
        rather than taking the whole history as new.
        """
        stored = await self._store.async_load()
        if not isinstance(stored, dict) or "cursor" not in stored:
            return
        self.carried_over = True
        if (cursor := stored["cursor"]) is None:
            self.cursor = BEFORE_ANY
            return
        at = cursor.get("at") if isinstance(cursor, dict) else None
        parsed = dt_util.parse_datetime(at) if isinstance(at, str) else None
        if parsed is None or parsed.tzinfo is None or not isinstance(cursor.get("id"), str):
            LOGGER.warning("Unreadable event cursor %s; starting at the newest record", at)
            return
        self.cursor = Cursor(parsed, cursor["id"])

    @property
    def position(self) -> Cursor | None:
        """Where the next poll reads from: the newest record handed on (fired or pending)."""
        return Cursor.of(self.pending[-1]) if self.pending else self.cursor

    @callback
    def receive(self, polled: Polled[Any], *, setting_up: bool) -> None:
        """Take what a poll read from ``position``; without an event entity (disabled), skip it.

        While the entry sets up, the entity is not there yet: the records wait for it.
        """
        if self.cursor is None:
            self.cursor = polled.newest or BEFORE_ANY
            self._save()
            return
        self.pending += polled.new
        if self._sink is None and not setting_up and self.pending:
            LOGGER.debug("No event entity: %s new records not fired", len(self.pending))
            self.cursor, self.pending = Cursor.of(self.pending[-1]), []
            self._save()

    @callback
    def receive_whole(self, records: Sequence[Record], *, setting_up: bool) -> None:
        """Take every record the service holds, oldest first (series it gives whole at a read).

        Those newer than ``position`` are new, as a poll's reading of a listing would find.
        """
        position = self.position
        new = () if position is None else tuple(r for r in records if Cursor.of(r) > position)
        newest = Cursor.of(records[-1]) if records else None
        self.receive(Polled(None, new, newest), setting_up=setting_up)

    @callback
    def attach(self, sink: Sink) -> CALLBACK_TYPE:
        """Fire new records through ``sink`` from now on; the returned callback detaches it."""
        self._sink = sink

        @callback
        def detach() -> None:
            if self._sink is sink:
                self._sink = None

        return detach

    @callback
    def deliver(self) -> None:
        """Fire every pending record, oldest first, then move the cursor and write it."""
        if self._sink is None or not self.pending:
            return
        records, self.pending = self.pending, []
        self._sink(records)
        self.cursor = Cursor.of(records[-1])
        self._save()

    def _save(self) -> None:
        cursor = self.cursor
        data = {
            "cursor": None
            if cursor is None or cursor == BEFORE_ANY
            else {"at": cursor.at.isoformat(), "id": cursor.id}
        }
        self._saving = self._hass.async_create_task(
            self._store.async_save(data), f"{DOMAIN} event cursor save"
        )

    async def async_flush(self) -> None:
        """Wait until the last cursor is on disk (before the entry unloads)."""
        if self._saving is not None:
            await self._saving

    async def async_remove(self) -> None:
        """The entry is gone: so is its cursor."""
        await self._store.async_remove()

    def cursor_age(self) -> float | None:
        """Seconds since the newest delivered record was measured; None without one."""
        if self.cursor is None or self.cursor == BEFORE_ANY:
            return None
        return round((dt_util.utcnow() - self.cursor.at).total_seconds())
