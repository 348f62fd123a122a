"""What the clients share: the account, the cursor, and reading a listing newest first.

Every service lists its records newest first, in pages. A client says how to ask for a page and
how to read it (``_pages``), and, where the list holds less than the record, how to complete
one (``async_complete``); reading what is new since a cursor, or a page of history before
one, is the same for all of them and lives here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import (
    AsyncGenerator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
import functools
import re
from typing import ClassVar, Generic, Protocol, TypeVar

from aiohttp import ClientSession

from .api import Authenticator, ServiceApi

MAX_PAGES = 20
"""The most pages one call reads: a runaway listing cannot keep a poll going."""
_NUMBERS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Account:
    """Who a set of credentials belongs to: the service's id and, where it says, a name."""

    id: str
    name: str | None = None


class Record(Protocol):
    """What every record has: the service's id for it and the instant it was measured."""

    @property
    def id(self) -> str:
        """The service's id of the record."""

    @property
    def measured_at(self) -> datetime:
        """When it was measured (a workout: when it started), timezone-aware."""


def id_order(record_id: str) -> tuple[str | int, ...]:
    """How ids sort: the numbers in them by value (``r_9`` before ``r_10``), the rest as text.

    Services number their records; as text, reading 100000 would sort before reading 99999.
    """
    return tuple(
        int(part) if index % 2 else part for index, part in enumerate(_NUMBERS.split(record_id))
    )


@functools.total_ordering
@dataclass(frozen=True)
class Cursor:
    """A place in a listing: the newest record delivered, by its instant, then its id."""

    at: datetime
    id: str

    def __lt__(self, other: object) -> bool:
        """Earlier instant first; in one instant, by ``id_order``."""
        if not isinstance(other, Cursor):
            return NotImplemented
        return (self.at, id_order(self.id), self.id) < (other.at, id_order(other.id), other.id)

    @classmethod
    def of(cls, record: Record) -> Cursor:
        """The cursor just at ``record``."""
        return cls(record.measured_at, record.id)


ListedT = TypeVar("ListedT", bound=Record)
"""A record as the service's list shows it."""
RecordT = TypeVar("RecordT", bound=Record)
"""A record as a client delivers it (for most services, just what the list shows)."""


@dataclass(frozen=True)
class Page(Generic[ListedT]):
    """One answer of a listing."""

    items: Sequence[ListedT]
    """Newest first; items that cannot be read are left out."""
    more: bool
    """Whether the service has a further (older) page."""
    total: int | None = None
    """How many records the service holds, where it says."""


@dataclass(frozen=True)
class RecordsSince(Generic[ListedT, RecordT]):
    """What one read from the top of a listing found: the one place that says which records are new."""

    new: tuple[RecordT, ...]
    """The records newer than the cursor, oldest first, completed; none without a cursor."""
    listed: tuple[ListedT, ...]
    """Every record read, once each, newest first, as listed: the top of the listing, no gaps."""
    complete: bool
    """Whether every record newer than the cursor was read (``max_pages`` may stop a read first).

    How far back past ``back_to`` it got is not part of it: a window shows what was read.
    """
    total: int | None
    """How many records the service holds, where it says."""

    @property
    def newest(self) -> Cursor | None:
        """Where the listing stands: its newest record as this read saw it; None when empty."""
        return Cursor.of(self.listed[0]) if self.listed else None

    def merged(self, kept: Iterable[ListedT]) -> list[ListedT]:
        """``kept`` brought up to date, newest first: the read's range replaced by what it listed.

        The read covers the listing down to its oldest record: a kept record newer than that
        one's instant that the read did not list was deleted at the service. Kept records of
        that instant or older stay (a service may order the records of one instant otherwise).
        """
        kept = sorted(kept, key=Cursor.of, reverse=True)
        if not self.listed:
            return [] if self.complete else kept
        listed = {record.id for record in self.listed}
        oldest = self.listed[-1].measured_at
        older = [r for r in kept if r.measured_at <= oldest and r.id not in listed]
        return sorted([*self.listed, *older], key=Cursor.of, reverse=True)


def read_page(
    items: Iterable[object],
    parse: Callable[[object], ListedT | None],
    *,
    more: bool,
    total: int | None = None,
) -> Page[ListedT]:
    """A page of what ``parse`` can read of ``items``, newest first whatever order they came in."""
    return Page(sorted(filter(None, map(parse, items)), key=Cursor.of, reverse=True), more, total)


def index_pages(first: int, size: int) -> Iterator[tuple[int, int]]:
    """``(page size, page index)`` to ask for, in order, from a listing paged by index.

    A first page of another size (a one-record probe) is followed by the listing from its start
    again in pages of ``size``; what is read twice is read once (see ``async_records_since``).
    """
    yield first, 0
    index = 1 if first == size else 0
    while True:
        yield size, index
        index += 1


class AccountClient(ABC):
    """Reads what one set of credentials reaches at one service; keeps nothing between calls."""

    query: ClassVar[Mapping[str, str]] = {}
    """Query parameters the service wants on every request (signed with the rest of the URL)."""

    def __init__(self, session: ClientSession, origin: str, auth: Authenticator) -> None:
        """Requests go to ``origin`` over ``session``, signed by ``auth``; no I/O here."""
        self.api = ServiceApi(session, origin, auth, self.query)

    @abstractmethod
    async def async_get_accounts(self) -> list[Account]:
        """The accounts the credentials reach, each of which may become an entry.

        A person's sign-in reaches their own account; an application's credentials may reach
        several (a Boditrax app: every facility that consented to it), or none.
        """


class ServiceClient(AccountClient, Generic[ListedT, RecordT]):
    """Reads one person's account and its records at one service."""

    page_size: ClassVar[int]
    """The largest page the service allows."""

    @abstractmethod
    async def async_get_account(self) -> Account:
        """The account the credentials belong to."""

    async def async_get_accounts(self) -> list[Account]:
        """The one account a person's sign-in reaches."""
        return [await self.async_get_account()]

    @abstractmethod
    def _pages(
        self, first: int, size: int, before: datetime | None
    ) -> AsyncGenerator[Page[ListedT]]:
        """The listing, newest first: a page of ``first`` records, then pages of ``size``.

        ``before``: only records measured before it, where the service can filter by time
        (callers filter again).
        """

    @abstractmethod
    async def async_complete(self, listed: ListedT) -> RecordT:
        """The record a listed item stands for (a detail request, where the list holds less)."""

    async def async_records_since(
        self,
        cursor: Cursor | None,
        *,
        first_page: int | None = None,
        page_size: int | None = None,
        back_to: datetime | None = None,
        max_pages: int = MAX_PAGES,
    ) -> RecordsSince[ListedT, RecordT]:
        """The top of the listing down to ``cursor`` and to ``back_to``: what is new, what is listed.

        Pages of ``page_size`` (the largest the service allows) are read, newest first, until one
        reaches the cursor (without a cursor: the first page) and reaches back past ``back_to``,
        until the listing's end, or ``max_pages``. ``first_page``: a smaller first page, so that a
        poll that finds nothing new stays one small request. Records newer than the cursor come
        completed (a detail request each, where the list holds less); none are new without one.
        """
        size = page_size or self.page_size
        listed: dict[str, ListedT] = {}
        reached = cursor is None
        total: int | None = None
        ended = False
        count = 0
        pages = self._pages(first_page or size, size, None)
        async with aclosing(pages):
            async for page in pages:
                count += 1
                total = page.total if count == 1 else total
                for item in page.items:
                    listed.setdefault(item.id, item)
                    if cursor is not None and Cursor.of(item) <= cursor:
                        reached = True
                oldest = page.items[-1].measured_at if page.items else None
                far_enough = back_to is None or (oldest is not None and oldest < back_to)
                ended = not page.more
                if (reached and far_enough) or ended or count >= max_pages:
                    break
        top = sorted(listed.values(), key=Cursor.of, reverse=True)
        newer = [] if cursor is None else [item for item in top if Cursor.of(item) > cursor]
        new = tuple([await self.async_complete(item) for item in reversed(newer)])
        return RecordsSince(new, tuple(top), reached or ended, total)

    def history_pages(self, before: Cursor) -> AsyncGenerator[Page[ListedT]]:
        """The listing in the largest pages, newest first, from the records before ``before``.

        For a backfill: where the service filters by time, the listing starts at ``before``;
        elsewhere at the newest record, and the caller skips what is not before ``before``.
        Records come as the list shows them (no detail requests).
        """
        return self._pages(self.page_size, self.page_size, before.at)

    async def async_listed_between(
        self,
        start: datetime,
        end: datetime | None = None,
        *,
        limit: int | None = None,
        max_pages: int = MAX_PAGES,
    ) -> tuple[list[ListedT], bool]:
        """The records measured from ``start`` to before ``end``, as listed, newest first.

        At most ``limit`` (the newest of them), read in the largest pages; also whether that is
        all of them (``limit`` or ``max_pages`` may stop it first).
        """
        found: list[ListedT] = []
        count = 0
        pages = self._pages(self.page_size, self.page_size, end)
        async with aclosing(pages):
            async for page in pages:
                count += 1
                found += [
                    item
                    for item in page.items
                    if item.measured_at >= start and (end is None or item.measured_at < end)
                ]
                if limit is not None and len(found) > limit:
                    return found[:limit], False
                if not page.more or (page.items and page.items[-1].measured_at < start):
                    return found, True
                if count >= max_pages:
                    break
        return found, False


class WholeRecordsClient(ServiceClient[RecordT, RecordT]):
    """A client whose list holds whole records: nothing to complete."""

    async def async_complete(self, listed: RecordT) -> RecordT:
        """The listed record as it is."""
        return listed
