"""Boditrax (gym body-composition scans), over OAuth 2.0 bearer tokens.

The data API is not public; docs/service-contracts.md writes down the contract assumed here:
``/rest/v2.10/members`` names the member, ``/rest/v2.10/readings?limit&page`` lists scans newest
first as a bare array. Values may come as export text (decimal commas, dates day first). A gym's
application credential (no member) reads ``/rest/v2.10/facilities`` and each facility's
``statistics``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .base import Account, AccountClient, Page, WholeRecordsClient, index_pages, read_page
from .parsing import as_count, as_datetime, as_float, as_list, as_text, plausible

REST = "/rest/v2.10"
READ_SCOPE = "measurement_analysis"
MEMBER_SCOPE = "front_end"
REPORTING_SCOPE = "reporting"


def as_local_float(value: object) -> float | None:
    """Like ``as_float``, also reading a decimal comma (``"79,5"``) as exports in many locales write it."""
    if isinstance(value, str) and "," in value and "." not in value and value.count(",") == 1:
        value = value.replace(",", ".")
    return as_float(value)


def as_local_datetime(value: object) -> datetime | None:
    """Like ``as_datetime``, also reading export dates without a zone (taken as UTC).

    ``15/01/2024 08:15:30`` is day first (as in the UK, where Boditrax is); with AM/PM,
    ``1/15/2024 8:15:30 AM`` is month first, as US exports write it.
    """
    if (parsed := as_datetime(value)) is not None or not isinstance(value, str):
        return parsed
    text = " ".join(value.split())
    formats = (
        ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p")
        if text[-2:].upper() in ("AM", "PM")
        else (
            "%d/%m/%Y %H:%M:%S",
            "%d/%m/%Y %H:%M",
            "%d/%m/%Y",
            "%d.%m.%Y %H:%M:%S",
            "%d.%m.%Y",
        )
    )
    for pattern in formats:
        try:
            return plausible(datetime.strptime(text, pattern).replace(tzinfo=UTC))
        except ValueError:
            continue
    return None


def _entity(item: object) -> Mapping[str, Any]:
    """An entity of a collection: an object, or its id alone (the REST doc's default field)."""
    return item if isinstance(item, Mapping) else {"id": item}


@dataclass(frozen=True, kw_only=True)
class Scan:
    """One scan: when it was taken and every metric that could be read, by Boditrax's name.

    Names as in Boditrax's exports (``BodyWeight``, ``FatMass``, ``BasalMetabolicRatekJ``, …);
    masses in kg, the BMR in kJ/day. Unknown names are kept; unreadable values are dropped.
    """

    id: str
    """The reading's id; a scan without one is known by its date."""
    date: datetime
    metrics: Mapping[str, float]

    @property
    def measured_at(self) -> datetime:
        """When the scan was taken."""
        return self.date

    @classmethod
    def parse(cls, item: object) -> Scan | None:
        """A scan, or None when it is not an object or its date cannot be read."""
        if not isinstance(item, Mapping) or (date := as_local_datetime(item.get("date"))) is None:
            return None
        raw = item.get("measurements")
        metrics = (
            {
                str(name): number
                for name, value in raw.items()
                if (number := as_local_float(value)) is not None
            }
            if isinstance(raw, Mapping)
            else {}
        )
        return cls(id=as_text(item.get("id")) or date.isoformat(), date=date, metrics=metrics)


class BoditraxClient(WholeRecordsClient[Scan]):
    """A Boditrax member and their scans."""

    page_size = 100
    """Boditrax documents no limit; a page of 100 scans is years of gym visits."""

    async def async_get_account(self) -> Account:
        """The member the token belongs to: the one entity its ``members`` collection shows.

        An entity may come as its id alone or as an object with its name.
        """
        answer = await self.api.async_request("GET", f"{REST}/members", scope=MEMBER_SCOPE)
        fields = _entity(answer[0] if isinstance(answer, list) and answer else None)
        member = as_text(fields.get("id"))
        if member is None:
            raise self.api.unexpected("a member with an id")
        name = " ".join(
            part for key in ("firstname", "lastname") if (part := as_text(fields.get(key)))
        )
        return Account(id=member, name=name or None)

    async def _pages(
        self, first: int, size: int, before: datetime | None
    ) -> AsyncGenerator[Page[Scan]]:
        """Pages by index (no time filter); a short page is the last."""
        for limit, index in index_pages(first, size):
            params = {"limit": str(limit)} | ({"page": str(index)} if index else {})
            answer: Any = await self.api.async_request(
                "GET", f"{REST}/readings", params=params, scope=READ_SCOPE
            )
            if (answer := as_list(answer, "readings")) is None:
                raise self.api.unexpected("a list of scans")
            yield read_page(answer, Scan.parse, more=len(answer) >= limit)
            if len(answer) < limit:
                return


def _field(answer: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """An object inside ``answer``; empty when it is missing or not an object."""
    inner = answer.get(key)
    return inner if isinstance(inner, Mapping) else {}


@dataclass(frozen=True, kw_only=True)
class ScanCounts:
    """Scans in Boditrax's current day, week and month; None where the answer has no count."""

    today: int | None
    this_week: int | None
    this_month: int | None

    @classmethod
    def parse(cls, scans: Mapping[str, Any]) -> ScanCounts:
        """The counts of a ``scans`` object; a count that is not a whole number is None."""
        return cls(
            today=as_count(scans.get("today")),
            this_week=as_count(scans.get("thisweek")),
            this_month=as_count(scans.get("thismonth")),
        )


@dataclass(frozen=True, kw_only=True)
class MachineUsage:
    """One Boditrax machine of the facility and the scans taken on it."""

    id: str
    name: str
    """As the facility named it; its id where it has no name."""
    scans: ScanCounts


@dataclass(frozen=True, kw_only=True)
class FacilityStatistics:
    """A facility's usage as Boditrax counts it, in its own day, week and month."""

    scans: ScanCounts
    members_scanned_last_30_days: int | None
    new_members_this_month: int | None
    machines: tuple[MachineUsage, ...] | None
    """The machines the answer lists, in its order; one without an id is left out. None when
    the answer has no list of machines (it says nothing about them, not that there are none)."""

    def machine(self, machine_id: str) -> MachineUsage | None:
        """The machine with this id, if the answer lists it."""
        return next((machine for machine in self.machines or () if machine.id == machine_id), None)

    @classmethod
    def parse(cls, answer: Mapping[str, Any]) -> FacilityStatistics:
        """The statistics of an answer; anything missing or unreadable is None or left out."""
        members = _field(answer, "members")
        listed = answer.get("machines")
        machines = []
        for item in listed if isinstance(listed, list) else ():
            fields = _entity(item)
            if (machine := as_text(fields.get("id"))) is not None:
                name = as_text(fields.get("name")) or machine
                scans = ScanCounts.parse(_field(fields, "scans"))
                machines.append(MachineUsage(id=machine, name=name, scans=scans))
        return cls(
            scans=ScanCounts.parse(_field(answer, "scans")),
            members_scanned_last_30_days=as_count(members.get("scannedlast30days")),
            new_members_this_month=as_count(members.get("newthismonth")),
            machines=tuple(machines) if isinstance(listed, list) else None,
        )


class BoditraxFacilityClient(AccountClient):
    """A gym's view of Boditrax: its facilities and their statistics, with the app's own token."""

    async def async_get_accounts(self) -> list[Account]:
        """The facilities that consented to the app, each as an object with its name or an id."""
        answer = await self.api.async_request("GET", f"{REST}/facilities", scope=REPORTING_SCOPE)
        if (answer := as_list(answer, "facilities")) is None:
            raise self.api.unexpected("a list of facilities")
        facilities = []
        for item in answer:
            fields = _entity(item)
            if (facility := as_text(fields.get("id"))) is not None:
                facilities.append(Account(id=facility, name=as_text(fields.get("name"))))
        return facilities

    async def async_get_statistics(self, facility: str) -> FacilityStatistics:
        """The facility's statistics field: one request."""
        path = f"{REST}/facilities/{quote(facility, safe='')}/statistics"
        answer = await self.api.async_request("GET", path, scope=REPORTING_SCOPE)
        if not isinstance(answer, Mapping):
            raise self.api.unexpected("the facility's statistics (an object)")
        return FacilityStatistics.parse(answer)
