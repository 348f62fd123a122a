"""BACtrack (mobile.bactrack.com): breathalyzer readings, signed with OAuth 1.0a.

What BACtrack sends (docs/service-contracts.md): a profile at ``/internal_v1/users/me/`` and the
user's readings at ``/v1/readings/?person=me``, newest first, in tastypie pages
(``meta.next`` links the older page). ``format=json`` goes on every request.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime
import logging
from typing import Any, ClassVar

from .base import Account, Page, WholeRecordsClient, read_page
from .parsing import as_datetime, as_float, as_text

_LOGGER = logging.getLogger(__name__)

PROFILE = "/internal_v1/users/me/"
READINGS = "/v1/readings/"
MAX_BAC = 1.0
"""Above this a value is not a % BAC (a unit we do not know); such readings are skipped."""


@dataclass(frozen=True, kw_only=True)
class Reading:
    """One breath test."""

    id: str
    timestamp: datetime
    """When it was taken (BACtrack writes UTC without a zone)."""
    bac: float
    """% BAC (g/dL), 0 to 1."""
    location: tuple[float, float] | None
    """Latitude and longitude, where the app recorded them."""
    notes: str | None

    @property
    def measured_at(self) -> datetime:
        """When the reading was taken."""
        return self.timestamp

    @classmethod
    def parse(cls, item: object) -> Reading | None:
        """A reading, or None when its id, time or BAC cannot be read."""
        if not isinstance(item, Mapping):
            return None
        reading_id = as_text(item.get("id")) or as_text(item.get("resource_uri"))
        timestamp = as_datetime(item.get("timestamp"))
        bac = as_float(item.get("bac_level"))
        if reading_id is None or timestamp is None or bac is None or not 0 <= bac <= MAX_BAC:
            _LOGGER.debug("Skipping a BACtrack reading that cannot be read: %s", item.get("id"))
            return None
        latitude, longitude = as_float(item.get("latitude")), as_float(item.get("longitude"))
        return cls(
            id=reading_id,
            timestamp=timestamp,
            bac=bac,
            location=(latitude, longitude)
            if latitude is not None and longitude is not None
            else None,
            notes=as_text(item.get("notes")),
        )


class BACtrackClient(WholeRecordsClient[Reading]):
    """A BACtrack user's profile and readings."""

    page_size = 1000
    """tastypie's default ``max_limit``; BACtrack publishes none. Were its cap lower, its
    ``next`` links would still lead on from where its page ended."""
    query: ClassVar[Mapping[str, str]] = {"format": "json"}

    async def async_get_account(self) -> Account:
        """The signed-in user's profile: the id, and the name (or else the username)."""
        profile = await self.api.async_request("GET", PROFILE)
        user_id = as_text(profile.get("id")) if isinstance(profile, Mapping) else None
        if user_id is None:
            raise self.api.unexpected("the profile's id")
        full_name = " ".join(
            name for key in ("first_name", "last_name") if (name := as_text(profile.get(key)))
        )
        return Account(id=user_id, name=full_name or as_text(profile.get("username")))

    async def _pages(
        self, first: int, size: int, before: datetime | None
    ) -> AsyncGenerator[Page[Reading]]:
        """The user's readings, following the service's ``next`` links (no time filter)."""
        path: str | None = READINGS
        params: dict[str, str] | None = {"person": "me", "limit": str(first), "offset": "0"}
        while path is not None:
            answer = await self.api.async_request("GET", path, params=params)
            params = None  # the service's next link carries the query
            if (page := _page(answer)) is None:
                raise self.api.unexpected("a list of readings under objects")
            objects, path, total = page
            if path is not None and size != first:
                path = str(self.api.url(path).update_query(limit=str(size)))
            yield read_page(objects, Reading.parse, more=path is not None, total=total)


def _page(answer: Any) -> tuple[list[Any], str | None, int | None] | None:
    """A tastypie page's objects, the link to the next (older) page and the total count."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("objects"), list):
        return None
    meta = answer.get("meta")
    if not isinstance(meta, Mapping):
        return answer["objects"], None, None
    total = as_float(meta.get("total_count"))
    return answer["objects"], as_text(meta.get("next")), None if total is None else int(total)
