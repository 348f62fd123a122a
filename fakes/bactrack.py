"""Fake BACtrack (mobile.bactrack.com): OAuth 1.0a and the tastypie readings API.

Serves the contract docs/service-contracts.md describes: ``/internal_v1/users/me/`` and
``/v1/readings/`` (newest first, ``limit``/``offset`` paging, UTC timestamps without a zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import random
from typing import Any, ClassVar
from urllib.parse import urlencode

from aiohttp import web

from .base import HISTORY_SEED, AddedRecord, insert_newest_first, seeded_period, squeeze
from .oauth1 import OAuth1Consumer, OAuth1Service

DEFAULT_CONSUMER = OAuth1Consumer("bactrack-demo-key", "bactrack-demo-secret")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
"""tastypie's default ``max_limit``: a larger ``limit`` (or 0) gets this many."""
ELIMINATION_PER_HOUR = 0.015
"""How fast BAC falls after the peak (% per hour), a typical adult rate."""
DRINK = 0.02
"""How much one more drink adds to the BAC (%)."""
HIGHEST_READING = 0.4
"""The highest BAC a breathalyzer shows (%): drinks added on top of it read this."""
PLACES = ((42.3587, -71.0965), (42.3467, -71.0972), (42.3736, -71.1190))
DEMO_USER = (10262, "robin", "Robin", 3)
"""The demo's second user (id, username, first name, seed): the newest reading has a place and a note."""
DEMO_PLACE = (42.3601, -71.0942)
DEMO_NOTE = "dinner with friends"
"""Where and with what note the default user's newest session was taken, in the demo."""
NOTES = ("after dinner", "birthday party", "before driving home", "game night", "wine tasting")

type _Test = tuple[datetime, float, tuple[float, float] | None, str | None]
"""A reading before it has an id: when, % BAC, where, note."""


@dataclass
class BACReading:
    """One breath test: when (aware UTC), the % BAC, and what the app attached to it."""

    id: int
    timestamp: datetime
    bac: float
    latitude: float | None = None
    longitude: float | None = None
    notes: str | None = None
    photo: str | None = None
    is_public: bool = False


@dataclass
class BACtrackUser:
    """An account with its readings, newest first."""

    id: int
    username: str
    first_name: str
    readings: list[BACReading] = field(default_factory=list)

    @classmethod
    def generate(
        cls,
        user_id: int,
        username: str,
        first_name: str,
        *,
        seed: int,
        count: int,
        now: datetime,
        span: timedelta | None = None,
    ) -> BACtrackUser:
        """``count`` readings before ``now``, the same for the same seed.

        Evening sessions rise to a peak and fall, some followed by a 0.000 check the next
        morning. The newest session lies 1-6 hours before ``now`` (so 24-hour sensors have
        values), the one before it 3-8 days back. ``span``: the oldest lies at most that far
        back (days, sessions and all, move closer together to fit).
        """
        rng = random.Random(seed)
        start = now - timedelta(hours=6) + timedelta(minutes=rng.uniform(0, 30))
        tests = _session(rng, start, rng.randint(3, 4), step=(50, 80))
        day = now - timedelta(days=rng.randint(3, 8))
        while len(tests) < count:
            evening = day.replace(hour=rng.randint(19, 23), minute=rng.randint(0, 59))
            tests += _session(rng, evening, rng.randint(2, 5), step=(20, 70))
            if rng.random() < 0.35:  # sober again the next morning?
                morning = evening + timedelta(days=1)
                morning = morning.replace(hour=rng.randint(7, 10), minute=rng.randint(0, 59))
                tests.append((morning, 0.0, None, rng.choice((None, "morning check"))))
            day -= timedelta(days=rng.randint(1, 6))
        chronological = sorted(tests, key=lambda test: test[0], reverse=True)[:count][::-1]
        next_id = 90_000 + rng.randint(0, 5_000)
        readings = []
        for when, bac, place, note in chronological:
            next_id += rng.randint(1, 400)  # other users' readings come in between
            latitude, longitude = place or (None, None)
            readings.append(
                BACReading(
                    next_id,
                    when.replace(second=rng.randint(0, 59), microsecond=0),
                    bac,
                    latitude,
                    longitude,
                    note,
                    is_public=rng.random() < 0.2,
                )
            )
        if span is not None and readings:
            moved = squeeze(now, readings[0].timestamp, span)
            for reading in readings:
                reading.timestamp = moved(reading.timestamp)
        return cls(user_id, username, first_name, readings[::-1])

    def add_reading(self, reading: BACReading) -> None:
        """Record a new reading, keeping newest first."""
        insert_newest_first(self.readings, reading, _taken)


def _taken(reading: BACReading) -> datetime:
    return reading.timestamp


def _session(
    rng: random.Random, start: datetime, count: int, *, step: tuple[int, int]
) -> list[_Test]:
    """A drinking session: readings ``step`` minutes apart rising to a peak, then falling."""
    peak = rng.uniform(0.03, 0.14)
    top = rng.randint(0, count - 1)
    place = None
    if rng.random() < 0.5:
        latitude, longitude = rng.choice(PLACES)
        place = (
            round(latitude + rng.uniform(-0.01, 0.01), 4),
            round(longitude + rng.uniform(-0.01, 0.01), 4),
        )
    when = start
    times = []
    for _ in range(count):
        times.append(when)
        when += timedelta(minutes=rng.uniform(*step))
    tests: list[_Test] = []
    for index, moment in enumerate(times):
        if index <= top:
            bac = peak * (index + 1) / (top + 1) * (rng.uniform(0.85, 1) if index < top else 1)
        else:
            hours = (moment - times[top]).total_seconds() / 3600
            bac = max(0.0, peak - ELIMINATION_PER_HOUR * hours)
        note = rng.choice(NOTES) if place is not None and rng.random() < 0.5 else None
        tests.append((moment, round(bac, 3), place, note))
    return tests


@dataclass
class FakeBACtrack(OAuth1Service):
    """BACtrack: OAuth 1.0a at /oauth/…/, the user at /internal_v1/, readings at /v1/readings/.

    ``bac_as_string`` serves ``bac_level`` as a string ("0.052"), as some clients have seen.
    """

    service: ClassVar[str] = "bactrack"
    name: ClassVar[str] = "BACtrack"
    request_token_path: ClassVar[str] = "/oauth/request_token/"
    authorize_path: ClassVar[str] = "/oauth/authorize/"
    access_token_path: ClassVar[str] = "/oauth/access_token/"

    history: int = 40
    accounts: dict[int, BACtrackUser] = field(default_factory=dict)
    """User id → account (not ``users``, which names every fake's id → display name method)."""
    bac_as_string: bool = False

    def __post_init__(self) -> None:
        """The demo Web API key and one user with a seeded history."""
        self.register_consumer(DEFAULT_CONSUMER)
        if not self.accounts:
            self.add_user(
                BACtrackUser.generate(
                    10261, "sam", "Sam", seed=21, count=self.history, now=self.now
                )
            )

    def add_user(self, user: BACtrackUser) -> BACtrackUser:
        """Add an account; the first one is the one signed in on the consent page."""
        self.accounts[user.id] = user
        self.current_user = self.current_user or str(user.id)
        return user

    def users(self) -> dict[str, str]:
        """User id → first name (the username when there is none)."""
        return {str(user.id): user.first_name or user.username for user in self.accounts.values()}

    def add_demo_accounts(self) -> None:
        """A second user for the demo (``python -m fakes serve``), and a place for every newest reading.

        Each user's newest session gets a place and its newest reading a note (if the seed gave
        none), so the location and notes sensors show something. Tests keep the default data.
        """
        user_id, username, first_name, seed = DEMO_USER
        self.add_user(
            BACtrackUser.generate(
                user_id, username, first_name, seed=seed, count=self.history, now=self.now
            )
        )
        for user in self.accounts.values():
            if not user.readings or user.readings[0].latitude is not None:
                continue
            newest = user.readings[0]
            for reading in user.readings:
                if newest.timestamp - reading.timestamp > timedelta(hours=12):
                    break
                reading.latitude, reading.longitude = DEMO_PLACE
            newest.notes = newest.notes or DEMO_NOTE

    def seed_history(self, user_id: str, count: int, years: float) -> str:
        """Replace the user's readings with ``count`` going back at most ``years``; say so."""
        end, span = seeded_period(years)
        user = self.accounts[int(user_id)]
        user.readings = BACtrackUser.generate(
            user.id,
            user.username,
            user.first_name,
            seed=HISTORY_SEED,
            count=count,
            now=end,
            span=span,
        ).readings
        return f"{count} readings of {user.first_name or user.username}"

    def add_record(self, user_id: str, measured_at: datetime | None = None) -> AddedRecord:
        """Another drink's reading where the last one was, taken now or at ``measured_at``.

        Drink after drink, the BAC stays at ``HIGHEST_READING``, as a breathalyzer shows.
        BACtrack writes every time in UTC, whatever offset ``measured_at`` has.
        """
        user = self.accounts[int(user_id)]
        now = (measured_at or datetime.now(UTC)).replace(microsecond=0)
        last = user.readings[0] if user.readings else None
        bac = DRINK
        if last is not None:
            hours = (now - last.timestamp).total_seconds() / 3600
            bac = min(bac + max(0.0, last.bac - ELIMINATION_PER_HOUR * hours), HIGHEST_READING)
        place = (
            (last.latitude, last.longitude) if last and last.latitude is not None else DEMO_PLACE
        )
        reading_id = max((reading.id for reading in user.readings), default=90_000) + 1
        user.add_reading(BACReading(reading_id, now, round(bac, 3), *place, "one more"))
        when = "taken now" if measured_at is None else f"taken {now.isoformat()}"
        return AddedRecord(
            str(reading_id),
            now,
            f"a reading of {round(bac, 3):.3f} % for {user.first_name or user.username}, {when}",
        )

    def records_of(self, user_id: str) -> list[BACReading]:
        """The user's readings, newest first."""
        return self.accounts[int(user_id)].readings

    def setup_routes(self, app: web.Application) -> None:
        """OAuth plus the user and readings resources."""
        self.setup_oauth_routes(app)
        app.router.add_get("/internal_v1/users/{user}/", self._user)
        app.router.add_get("/v1/readings/", self._readings)
        app.router.add_get("/v1/readings/{reading}/", self._reading)

    async def _signed_account(self, request: web.Request) -> BACtrackUser:
        return self.accounts[int(await self.signed_user(request))]

    async def _user(self, request: web.Request) -> web.Response:
        user = await self._signed_account(request)
        if request.match_info["user"] not in ("me", str(user.id)):
            raise web.HTTPNotFound
        return web.json_response(
            {
                "id": user.id,
                "resource_uri": f"/internal_v1/users/{user.id}/",
                "username": user.username,
                "first_name": user.first_name,
            }
        )

    async def _readings(self, request: web.Request) -> web.Response:
        user = await self._signed_account(request)
        try:
            limit = int(request.query.get("limit", DEFAULT_LIMIT))
            offset = int(request.query.get("offset", 0))
        except ValueError:
            limit = offset = -1
        if request.query.get("person") != "me" or limit < 0 or offset < 0:
            raise web.HTTPBadRequest(text="Bad Request")
        limit = min(limit, MAX_LIMIT) or MAX_LIMIT  # tastypie: 0 asks for as many as allowed
        total = len(user.readings)
        page = user.readings[offset : offset + limit]
        return web.json_response(
            {
                "meta": {
                    "limit": limit,
                    "next": _page_url(request, limit, offset + limit)
                    if offset + limit < total
                    else None,
                    "offset": offset,
                    "previous": _page_url(request, limit, max(offset - limit, 0))
                    if offset > 0
                    else None,
                    "total_count": total,
                },
                "objects": [self._render(reading, user) for reading in page],
            }
        )

    async def _reading(self, request: web.Request) -> web.Response:
        user = await self._signed_account(request)
        for reading in user.readings:
            if str(reading.id) == request.match_info["reading"]:
                return web.json_response(self._render(reading, user))
        raise web.HTTPNotFound

    def _render(self, reading: BACReading, user: BACtrackUser) -> dict[str, Any]:
        return {
            "id": reading.id,
            "resource_uri": f"/v1/readings/{reading.id}/",
            "person": f"/internal_v1/users/{user.id}/",
            "timestamp": reading.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "bac_level": f"{reading.bac:.3f}" if self.bac_as_string else round(reading.bac, 3),
            "latitude": reading.latitude,
            "longitude": reading.longitude,
            "notes": reading.notes,
            "photo": reading.photo,
            "is_public": reading.is_public,
        }


def _page_url(request: web.Request, limit: int, offset: int) -> str:
    """Another page of the same listing, as tastypie links it (OAuth parameters left out)."""
    query = {key: value for key, value in request.query.items() if not key.startswith("oauth_")}
    query |= {"limit": str(limit), "offset": str(offset)}
    return f"{request.path}?{urlencode(query)}"
