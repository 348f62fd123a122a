"""Boditrax (gym body-composition scans), over OAuth 2.0 bearer tokens.

The data API is not public; docs/service-contracts.md writes down the contract assumed here:
``/rest/v2.10/members`` names the member, ``/rest/v2.10/readings?limit&page`` lists scans newest
first as a bare array. Values may come as export text (decimal commas, dates day first).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .base import Account, Page, WholeRecordsClient, index_pages, read_page
from .exceptions import InvalidResponseError
from .parsing import as_local_datetime, as_local_float, as_text

REST = "/rest/v2.10"
READ_SCOPE = "measurement_analysis"
MEMBER_SCOPE = "front_end"


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
        first = answer[0] if isinstance(answer, list) and answer else None
        fields = first if isinstance(first, dict) else {"id": first}
        member = as_text(fields.get("id"))
        if member is None:
            raise InvalidResponseError("members answered no member")
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
            if not isinstance(answer, list):
                raise InvalidResponseError("readings is not a list")
            yield read_page(answer, Scan.parse, more=len(answer) >= limit)
            if len(answer) < limit:
                return
