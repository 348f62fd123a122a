"""What the clients share: the account, the cursor, and reading a listing newest first.

Every service lists its records newest first, in pages. A client says how to ask for a page and
how to read it (``_pages``), and, where the list holds less than the record, how to complete
one (``_async_complete``); reading what is new since a cursor, or a page of history before
one, is the same for all of them and lives here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
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
class NewRecords(Generic[ListedT, RecordT]):
    """What a read since a cursor found."""

    records: tuple[RecordT, ...]
    """The records newer than the cursor, oldest first."""
    reached: ListedT | None
    """The newest listed record at or before the cursor: the cursor's own record, or, when that
    one was deleted, the one before it. None when reading stopped before getting there."""
    complete: bool
    """Whether every record newer than the cursor (and not older than ``not_before``) was read."""
    total: int | None
    """How many records the service holds, where it says."""

    @property
    def newest(self) -> ListedT | RecordT | None:
        """The newest record the service has now, as far as this read saw."""
        return self.records[-1] if self.records else self.reached


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
    async def _async_complete(self, listed: ListedT) -> RecordT:
        """The record a listed item stands for (a detail request, where the list holds less)."""

    async def async_records_since(
        self,
        cursor: Cursor | None,
        *,
        first_page: int | None = None,
        page_size: int | None = None,
        max_pages: int = MAX_PAGES,
        not_before: datetime | None = None,
    ) -> NewRecords[ListedT, RecordT]:
        """The records newer than ``cursor`` (all, without one), oldest first.

        Reads pages of ``page_size`` (the largest the service allows) until the cursor, the
        listing's end, a page reaching back past ``not_before`` or ``max_pages``. ``first_page``:
        a smaller first page, so that a poll that finds nothing new stays small. With
        ``not_before``, the last page is returned whole, its older records included: callers
        that need a time window filter it.
        """
        size = page_size or self.page_size
        new: dict[str, ListedT] = {}
        reached: ListedT | None = None
        total: int | None = None
        complete = False
        count = 0
        pages = self._pages(first_page or size, size, None)
        async with aclosing(pages):
            async for page in pages:
                count += 1
                total = page.total if count == 1 else total
                for item in page.items:
                    if cursor is not None and Cursor.of(item) <= cursor:
                        reached = item
                        break
                    new.setdefault(item.id, item)
                oldest = page.items[-1].measured_at if page.items else None
                too_old = not_before is not None and oldest is not None and oldest < not_before
                if reached is not None or too_old or not page.more:
                    complete = True
                    break
                if count >= max_pages:
                    break
        listed = sorted(new.values(), key=Cursor.of)
        records = tuple([await self._async_complete(item) for item in listed])
        return NewRecords(records, reached, complete, total)

    async def async_history_before(
        self, cursor: Cursor | None, *, limit: int | None = None, max_pages: int = MAX_PAGES
    ) -> list[ListedT]:
        """A page of history: up to ``limit`` records listed before ``cursor``, newest first.

        Without a cursor, the newest records. Records come as the list shows them (no detail
        requests), for a backfill to walk back: the next page is before the last one's cursor.
        Where the service cannot filter by time, the newer pages are read again first.
        """
        limit = limit or self.page_size
        first = limit if cursor is None else self.page_size
        found: list[ListedT] = []
        count = 0
        pages = self._pages(first, self.page_size, cursor.at if cursor else None)
        async with aclosing(pages):
            async for page in pages:
                count += 1
                found += [item for item in page.items if cursor is None or Cursor.of(item) < cursor]
                if len(found) >= limit or not page.more or count >= max_pages:
                    break
        return found[:limit]

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

    async def _async_complete(self, listed: RecordT) -> RecordT:
        """The listed record as it is."""
        return listed
