"""Fake SportTracks (api.sporttracks.mobi): OAuth 2.0 with JSON token requests, workouts API.

Serves the wire format real clients have seen (docs/service-contracts.md): numbers as strings in
lists, ``-02:-30`` offsets, ``privacy`` instead of ``sharing`` on old workouts, blank names,
calories in kJ, newest first; with ``data=summary``, list items carry the summary statistics too.
A history is kept newest first and searched by binary search, so a list request costs the page
it answers, not the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
import random
from typing import Any, ClassVar

from aiohttp import web

from .base import (
    HISTORY_SEED,
    AddedRecord,
    insert_newest_first,
    newest_first_between,
    seeded_period,
    squeeze,
)
from .oauth2 import OAuth2Client, OAuth2Service, TokenEncoding

API = "/api/v2"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
DEFAULT_CLIENT = OAuth2Client(
    "sporttracks-demo-client", "sporttracks-demo-secret", "Home Assistant"
)
DEMO_ACCOUNT = ("27182", "Bea Cyclist", 7)
"""The demo's second user (id, name, seed): her newest workout has every value."""

# (type, speed m/s range, has distance, has heart rate)
_KINDS: tuple[tuple[str, tuple[float, float], bool], ...] = (
    ("Running", (2.4, 3.8), True),
    ("Cycling", (5.0, 9.0), True),
    ("Cycling: Mountain", (3.5, 6.0), True),
    ("Walking: Hiking", (1.0, 1.6), True),
    ("Swimming: Pool", (0.6, 1.1), True),
    ("Skiing: Nordic", (2.5, 5.0), True),
    ("Gym: Strength", (0.0, 0.0), False),
)
# Offsets as the service writes them, including its negative half-hour bug.
_OFFSETS: tuple[tuple[str, timedelta], ...] = (
    ("+01:00", timedelta(hours=1)),
    ("Z", timedelta(0)),
    ("-05:00", timedelta(hours=-5)),
    ("+05:30", timedelta(hours=5, minutes=30)),
    ("-02:-30", timedelta(hours=-2, minutes=-30)),
)
_SPELLINGS: dict[timedelta | None, str] = {delta: text for text, delta in _OFFSETS}
"""How the service writes each offset it uses."""


@dataclass
class Workout:
    """One workout as the fake stores it; rendered into list items and details on request."""

    id: int
    start: datetime
    offset: str
    type: str
    name: str
    duration: float
    distance: float | None = None
    calories_kj: float | None = None
    elevation_gain: float | None = None
    avg_heartrate: int | None = None
    max_heartrate: int | None = None
    legacy_privacy: bool = False

    @property
    def clock_duration(self) -> float:
        """s, pauses included: a minute of them."""
        return self.duration + 60

    @property
    def avg_speed(self) -> float | None:
        """m/s, over the moving time."""
        return round(self.distance / self.duration, 3) if self.distance else None

    def start_time_text(self) -> str:
        """The start as the service writes it: local wall clock plus its offset spelling."""
        delta = dict(_OFFSETS)[self.offset]
        local = self.start.astimezone(timezone(delta)).replace(tzinfo=None)
        return local.isoformat(timespec="seconds") + self.offset


UPLOAD = "POST /fitnessActivities"
SET_METRICS = "POST /metrics"
METRICS = ("weight", "bodyFat", "restingHeartrate")
"""The health metrics the fake knows (kg, a fraction of 1, bpm); others are refused."""


@dataclass
class SportTracksAccount:
    """A user with a deterministic history of workouts and health metrics."""

    uid: str
    name: str
    workouts: list[Workout] = field(default_factory=list)
    metrics: dict[str, dict[datetime, float]] = field(default_factory=dict)
    """Metric id → when (UTC) → value, as ``POST /metrics`` keeps them."""

    @classmethod
    def generate(
        cls,
        uid: str,
        name: str,
        *,
        seed: int,
        count: int,
        now: datetime,
        span: timedelta | None = None,
    ) -> SportTracksAccount:
        """``count`` workouts going back from ``now``, the same for the same seed.

        ``span``: the oldest lies at most that far back (the gaps shrink to fit).
        """
        rng = random.Random(seed)
        workouts: list[Workout] = []
        start = now - timedelta(hours=rng.uniform(3, 20))
        for index in range(count):
            kind, speeds, has_distance = rng.choice(_KINDS)
            duration = float(round(rng.uniform(20, 120) * 60))
            speed = rng.uniform(*speeds)
            heart = rng.random() > 0.2
            offset = rng.choice(_OFFSETS)[0]
            workouts.append(
                Workout(
                    id=1_000_000 + seed * 10_000 + index,
                    start=start.replace(microsecond=0),
                    offset=offset,
                    type=kind,
                    name=rng.choice([kind.lower(), "", f"{kind} with friends"]),
                    duration=duration,
                    distance=round(speed * duration, 2) if has_distance else None,
                    calories_kj=round(duration * rng.uniform(0.5, 0.9))
                    if rng.random() > 0.1
                    else None,
                    elevation_gain=round(rng.uniform(0, 400), 1) if has_distance else None,
                    avg_heartrate=rng.randint(110, 160) if heart else None,
                    max_heartrate=rng.randint(165, 190) if heart else None,
                    legacy_privacy=rng.random() < 0.3,
                )
            )
            start -= timedelta(hours=rng.uniform(10, 80))
        if span is not None and workouts:
            moved = squeeze(now, workouts[-1].start, span)
            for workout in workouts:
                workout.start = moved(workout.start)
        return cls(uid, name, workouts, _seeded_metrics(seed, now))

    def add_workout(self, workout: Workout) -> None:
        """Record a new workout, newest first; after those of the same start (uploaded order)."""
        insert_newest_first(self.workouts, workout, _started, before_same=False)


def _seeded_metrics(seed: int, now: datetime) -> dict[str, dict[datetime, float]]:
    """A weigh-in a week for three months, with body fat and resting heart rate.

    Its own random numbers: the workouts stay as they were.
    """
    rng = random.Random(seed * 7919)
    metrics: dict[str, dict[datetime, float]] = {metric: {} for metric in METRICS}
    weight = rng.uniform(60, 90)
    for week in range(13, 0, -1):
        at = (now - timedelta(weeks=week, hours=rng.uniform(0, 12))).replace(microsecond=0)
        weight += rng.uniform(-0.6, 0.5)
        metrics["weight"][at.astimezone(UTC)] = round(weight, 1)
        metrics["bodyFat"][at.astimezone(UTC)] = round(rng.uniform(0.12, 0.22), 3)
        metrics["restingHeartrate"][at.astimezone(UTC)] = float(rng.randint(48, 64))
    return metrics


def _started(workout: Workout) -> datetime:
    return workout.start


@dataclass
class FakeSportTracks(OAuth2Service):
    """SportTracks: OAuth 2.0 at /oauth2, workouts under /api/v2."""

    service: ClassVar[str] = "sporttracks"
    name: ClassVar[str] = "SportTracks"
    authorize_path: ClassVar[str] = "/oauth2/authorize"
    token_path: ClassVar[str] = "/oauth2/token"
    token_encodings: ClassVar[frozenset[TokenEncoding]] = frozenset({"json", "form", "query"})
    access_token_lifetime: ClassVar[int] = 7200

    history: int = 120
    accounts: dict[str, SportTracksAccount] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A default developer app and one user with a seeded history."""
        self.register_client(DEFAULT_CLIENT)
        if not self.accounts:
            self.add_account(
                SportTracksAccount.generate(
                    "16964", "Alex Runner", seed=37, count=self.history, now=self.now
                )
            )

    def add_account(self, account: SportTracksAccount) -> SportTracksAccount:
        """Add a user; the first one is the one signed in on the consent page."""
        self.accounts[account.uid] = account
        self.current_user = self.current_user or account.uid
        return account

    def users(self) -> dict[str, str]:
        """User id → display name."""
        return {uid: account.name for uid, account in self.accounts.items()}

    def add_demo_accounts(self) -> None:
        """A second user for the demo (``python -m fakes serve``); tests keep the default one."""
        uid, name, seed = DEMO_ACCOUNT
        self.add_account(
            SportTracksAccount.generate(uid, name, seed=seed, count=self.history, now=self.now)
        )

    def seed_history(self, uid: str, count: int, years: float) -> str:
        """Replace the user's workouts with ``count`` going back at most ``years``; say so."""
        end, span = seeded_period(years)
        account = self.accounts[uid]
        seeded = SportTracksAccount.generate(
            uid,
            account.name,
            seed=HISTORY_SEED,
            count=count,
            now=end,
            span=span,
        )
        account.workouts = seeded.workouts
        return f"{count} workouts for {account.name}"

    def add_record(self, uid: str, measured_at: datetime | None = None) -> AddedRecord:
        """A 16 km run with every value: started now, or at ``measured_at``.

        ``measured_at`` keeps its offset, which must be one SportTracks writes (``-02:30`` as
        its ``-02:-30``).
        """
        account = self.accounts[uid]
        duration = 5400.0
        if measured_at is None:
            start = datetime.now(UTC).replace(microsecond=0)
            offset, when = "Z", "started now"
        else:
            if (spelling := _SPELLINGS.get(measured_at.utcoffset())) is None:
                raise ValueError(f"SportTracks writes no offset {measured_at:%z}")
            offset, start = spelling, measured_at.replace(microsecond=0)
            when = f"started {measured_at.isoformat()}"
        workout = Workout(
            id=max((workout.id for workout in account.workouts), default=1_000_000) + 1,
            start=start,
            offset=offset,
            type="Running",
            name="long run",
            duration=duration,
            distance=16_000.0,
            calories_kj=4_600,
            elevation_gain=120.0,
            avg_heartrate=148,
            max_heartrate=176,
        )
        account.add_workout(workout)
        return AddedRecord(
            str(workout.id), workout.start, f"a 16 km run for {account.name}, {when}"
        )

    def measurements_of(self, uid: str) -> dict[str, list[tuple[str, float]]]:
        """The user's health metrics as ``GET /metrics`` answers them."""
        return _metrics_answer(self.accounts[uid])

    def records_of(self, uid: str) -> list[Workout]:
        """The user's workouts, newest first."""
        return self.accounts[uid].workouts

    def setup_routes(self, app: web.Application) -> None:
        """OAuth plus the workouts API (with and without the ``.json`` suffix)."""
        self.setup_oauth_routes(app)
        app.router.add_post(f"{API}/system/connect", self._connect)
        app.router.add_get(f"{API}/fitnessActivities", self._list)
        app.router.add_get(f"{API}/fitnessActivities.json", self._list)
        app.router.add_get(f"{API}/fitnessActivities/{{id}}", self._detail)
        app.router.add_post(f"{API}/fitnessActivities", self._upload)
        app.router.add_get(f"{API}/metrics", self._metrics)
        app.router.add_post(f"{API}/metrics", self._set_metrics)

    def _account(self, request: web.Request) -> SportTracksAccount:
        return self.accounts[self.bearer_user(request)]

    async def _connect(self, request: web.Request) -> web.Response:
        return web.json_response({"user": {"uid": int(self._account(request).uid)}})

    async def _list(self, request: web.Request) -> web.Response:
        account = self._account(request)
        try:
            page_size = min(int(request.query.get("pageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
            page = int(request.query.get("page", 0))
            earliest = _query_time(request, "noEarlierThan")
            latest = _query_time(request, "noLaterThan")
        except ValueError as err:
            return web.json_response(
                {"error": "bad_request", "error_description": str(err)}, status=400
            )
        matching = newest_first_between(account.workouts, _started, earliest, latest)
        chunk = matching[page * page_size : (page + 1) * page_size]
        summary = request.query.get("data") == "summary"
        answer: dict[str, Any] = {
            "size": str(len(matching)),
            "items": [self._summary(account.workouts[i], account, summary) for i in chunk],
        }
        base = f"{self.origin}{API}/fitnessActivities"
        if page > 0:
            answer["previous"] = f"{base}?page={page - 1}"
        if (page + 1) * page_size < len(matching):
            answer["next"] = f"{base}?page={page + 1}"
        return web.json_response(answer)

    def _summary(
        self, workout: Workout, account: SportTracksAccount, statistics: bool = False
    ) -> dict[str, Any]:
        """A list item: numbers as strings, as the real service sends them.

        ``statistics`` (``data=summary``): the summary statistics follow, as numbers, as in the
        real answer captured with it.
        """
        item: dict[str, Any] = {
            "start_time": workout.start_time_text(),
            "type": workout.type,
            "name": workout.name,
            "duration": f"{workout.duration:.2f}",
            "user_id": account.uid,
            "uri": f"{self.origin}{API}/fitnessActivities/{workout.id}",
        }
        if workout.distance is not None:
            item["total_distance"] = f"{workout.distance:.2f}"
        if statistics:
            item["clock_duration"] = round(workout.clock_duration)
            item.update(_present(_statistics(workout)))
        return item

    async def _detail(self, request: web.Request) -> web.Response:
        account = self._account(request)
        workout = next((w for w in account.workouts if str(w.id) == request.match_info["id"]), None)
        if workout is None:
            return web.json_response({"error": "not_found"}, status=404)
        detail: dict[str, Any] = {
            **self._summary(workout, account),
            "duration": workout.duration,
            "clock_duration": workout.clock_duration,
            "user_id": int(account.uid),
            "activity": f"{self.origin}/activity/{workout.id}",
            "laps": [],
            "timer_stops": [],
        }
        detail["privacy" if workout.legacy_privacy else "sharing"] = "private"
        detail.update(_present({"total_distance": workout.distance, **_statistics(workout)}))
        return web.json_response(detail)

    async def _upload(self, request: web.Request) -> web.Response:
        """A new workout from its JSON (only ``start_time`` required); answers its ``uris``."""
        account = self._account(request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if (workout := self._upload_workout(account, body)) is None:
            return web.json_response(
                {"error": "bad_request", "error_description": "start_time is required"},
                status=400,
            )
        self.note_write(account.uid, UPLOAD, body)
        return web.json_response({"uris": [f"{self.origin}{API}/fitnessActivities/{workout.id}"]})

    @staticmethod
    def _upload_workout(account: SportTracksAccount, body: object) -> Workout | None:
        """The workout ``body`` describes, stored; None without a readable ``start_time``."""
        if not isinstance(body, dict) or (start := _time(body.get("start_time"))) is None:
            return None
        workout = Workout(
            id=max((w.id for w in account.workouts), default=1_000_000) + 1,
            start=start,
            offset=_SPELLINGS.get(start.utcoffset(), "Z"),
            type=str(body.get("type") or "Other"),
            name=str(body.get("name") or ""),
            duration=float(body.get("duration") or body.get("clock_duration") or 0),
            distance=_number(body.get("total_distance")),
            calories_kj=_number(body.get("calories")),
            avg_heartrate=None if (hr := _number(body.get("avg_heartrate"))) is None else round(hr),
        )
        account.add_workout(workout)
        return workout

    def write_again(self, account: str, write: str, body: Any) -> None:
        """An upload or a metrics update, stored again."""
        if write == UPLOAD:
            self._upload_workout(self.accounts[account], body)
        elif write == SET_METRICS:
            _store_metrics(self.accounts[account], _metric_changes(body))

    async def _metrics(self, request: web.Request) -> web.Response:
        """Every metric of the user: ``{"weight": [["2016-01-01T12:00:00Z", 68.0], …], …}``."""
        return web.json_response(_metrics_answer(self._account(request)))

    async def _set_metrics(self, request: web.Request) -> web.Response:
        """Upsert, all or nothing; a ``null`` value deletes that metric at that time.

        ``{"timestamp": t, "weight": 68, "bodyFat": 0.078}`` or ``{"weight": [[t, 68], …]}``.
        """
        account = self._account(request)
        try:
            body = await request.json()
            changes = _metric_changes(body)
        except (ValueError, TypeError, KeyError) as err:
            return web.json_response(
                {"error": "bad_request", "error_description": str(err)}, status=400
            )
        _store_metrics(account, changes)
        self.note_write(account.uid, SET_METRICS, body)
        return web.json_response({"status": "ok"})


def _metrics_answer(account: SportTracksAccount) -> dict[str, list[tuple[str, float]]]:
    """Each metric the user has, as ``[timestamp, value]`` pairs, oldest first."""
    return {
        metric: [(_utc_text(at), value) for at, value in sorted(values.items())]
        for metric, values in account.metrics.items()
        if values
    }


def _store_metrics(
    account: SportTracksAccount, changes: list[tuple[str, datetime, float | None]]
) -> None:
    """Each change kept; a None value deletes the metric at that time."""
    for metric, at, value in changes:
        values = account.metrics.setdefault(metric, {})
        if value is None:
            values.pop(at, None)
        else:
            values[at] = value


def _time(value: object) -> datetime | None:
    """An ISO 8601 time with an offset (``Z`` too); None otherwise."""
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else None


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    return float(value) if isinstance(value, int | float | str) else None


def _metric_changes(body: object) -> list[tuple[str, datetime, float | None]]:
    """What a ``POST /metrics`` body asks, every value checked before anything is kept."""
    if not isinstance(body, dict):
        raise TypeError("the body is an object")
    changes: list[tuple[str, datetime, float | None]] = []
    if "timestamp" in body:
        if (at := _time(body["timestamp"])) is None:
            raise ValueError("timestamp is ISO 8601 with an offset")
        pairs = [
            (metric, [[body["timestamp"], value]])
            for metric, value in body.items()
            if metric != "timestamp"
        ]
    else:
        pairs = list(body.items())
    for metric, entries in pairs:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        if not isinstance(entries, list):
            raise TypeError(f"{metric} is a list of [timestamp, value]")
        for entry in entries:
            if not isinstance(entry, list) or len(entry) != 2 or (at := _time(entry[0])) is None:
                raise ValueError(f"{metric}: each entry is [ISO 8601 time, value]")
            value = entry[1]
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise TypeError(f"{metric}: a value is a number or null")
            changes.append((metric, at.astimezone(UTC), None if value is None else float(value)))
    return changes


def _statistics(workout: Workout) -> dict[str, float | None]:
    """What both a detail and a ``data=summary`` list item hold, as numbers (kJ, m, m/s, bpm)."""
    return {
        "calories": workout.calories_kj,
        "elevation_gain": workout.elevation_gain,
        "avg_speed": workout.avg_speed,
        "avg_heartrate": workout.avg_heartrate,
        "max_heartrate": workout.max_heartrate,
    }


def _present(values: dict[str, float | None]) -> dict[str, float]:
    """The values a workout has: the service leaves out what it did not measure."""
    return {key: value for key, value in values.items() if value is not None}


def _query_time(request: web.Request, name: str) -> datetime | None:
    if (text := request.query.get(name)) is None:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
