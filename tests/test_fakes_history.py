"""Big histories at the fakes: seeded fast, served by binary search, requests counted per endpoint.

What ``scripts/bench`` relies on: the fakes answer a page of a 10,000-workout history as they
would a short one, serve SportTracks' ``data=summary`` statistics, and count what they received.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
import math
import socket
from typing import Any

from aiohttp import ClientSession, TCPConnector
import pytest

from fakes import FakeBACtrack, FakeBoditrax, FakeService, FakeSportTracks
from fakes.__main__ import control_app
from fakes.base import HISTORY_GAP, insert_newest_first, newest_first_between
from fakes.oauth2 import _Grant
from fakes.sporttracks import DEFAULT_CLIENT, SportTracksAccount, Workout

from .conftest import NOW

ACTIVITIES = "/api/v2/fitnessActivities"
TOKEN = "history-token"
YEARS = 10
STATISTICS = (
    "clock_duration",
    "calories",
    "elevation_gain",
    "avg_speed",
    "avg_heartrate",
    "max_heartrate",
)
"""What ``data=summary`` adds to a list item, as its detail has it."""


@pytest.fixture
async def http(socket_enabled: None) -> AsyncGenerator[ClientSession]:
    """A plain HTTP client, IPv4 as the fakes listen."""
    async with ClientSession(connector=TCPConnector(family=socket.AF_INET)) as session:
        yield session


@pytest.fixture
def bearer(sporttracks: FakeSportTracks) -> dict[str, str]:
    """An access token of the default SportTracks user, issued without the consent page."""
    sporttracks.access_tokens[TOKEN] = _Grant("16964", DEFAULT_CLIENT.client_id, math.inf)
    return {"Authorization": f"Bearer {TOKEN}"}


async def _list(
    http: ClientSession, fake: FakeSportTracks, bearer: dict[str, str], **query: str
) -> dict[str, Any]:
    answer = await http.get(f"{fake.origin}{ACTIVITIES}", params=query, headers=bearer)
    assert answer.status == 200, await answer.text()
    listing: dict[str, Any] = await answer.json()
    return listing


# -- seeding -----------------------------------------------------------------------------------


def _history(fake: FakeService, account: str) -> list[tuple[object, datetime]]:
    """Each record's id and instant, as the fake keeps them."""
    if isinstance(fake, FakeSportTracks):
        return [(w.id, w.start) for w in fake.accounts[account].workouts]
    if isinstance(fake, FakeBoditrax):
        return [(r.id, r.date) for r in fake.members[account].readings]
    assert isinstance(fake, FakeBACtrack)
    return [(r.id, r.timestamp) for r in fake.accounts[int(account)].readings]


@pytest.mark.parametrize(
    ("factory", "account", "count"),
    [
        (FakeSportTracks, "16964", 10_000),
        (FakeBoditrax, "m_123", 2_000),
        (FakeBACtrack, "10261", 50_000),
    ],
    ids=["sporttracks", "boditrax", "bactrack"],
)
def test_seed_history(factory: type[FakeService], account: str, count: int) -> None:
    """``count`` records, newest first, within the years asked for, the same on every call.

    The newest lies a day back, so that records added later (a catch-up) are new.
    """
    fake = factory(now=NOW)  # type: ignore[call-arg]
    assert str(count) in fake.seed_history(account, count, YEARS)  # type: ignore[attr-defined]
    seeded = _history(fake, account)
    assert len(seeded) == len({record_id for record_id, _ in seeded}) == count
    instants = [when for _, when in seeded]
    assert instants == sorted(instants, reverse=True)
    assert NOW - timedelta(days=365 * YEARS) <= instants[-1] < instants[0] <= NOW - HISTORY_GAP
    assert instants[-1] < NOW - timedelta(days=365 * (YEARS - 1))  # spread over the years
    fake.seed_history(account, count, YEARS)  # type: ignore[attr-defined]
    assert _history(fake, account) == seeded


def test_records_keep_newest_first() -> None:
    """A record goes in at its instant; among those of the same instant, first by default."""
    workouts = SportTracksAccount.generate("1", "A", seed=1, count=5, now=NOW).workouts
    between = Workout(9, workouts[2].start + timedelta(seconds=1), "Z", "Running", "", 60.0)
    same = Workout(10, workouts[3].start, "Z", "Running", "", 60.0)
    insert_newest_first(workouts, between, _started)
    insert_newest_first(workouts, same, _started)
    assert [w.id for w in workouts].index(9) == 2
    assert [w.id for w in workouts].index(10) == 4
    later = Workout(11, NOW, "Z", "Running", "", 60.0)
    insert_newest_first(workouts, later, _started)
    assert workouts[0] is later


def test_sporttracks_lists_the_same_start_in_upload_order() -> None:
    """SportTracks adds a workout after those that started in the same second."""
    account = SportTracksAccount.generate("1", "A", seed=1, count=5, now=NOW)
    same = Workout(10, account.workouts[3].start, "Z", "Running", "", 60.0)
    account.add_workout(same)
    assert account.workouts[4] is same


def _started(workout: Workout) -> datetime:
    return workout.start


def test_range_of_instants() -> None:
    """The indexes from one instant to another, both included, as a scan would find them."""
    workouts = SportTracksAccount.generate("1", "A", seed=3, count=300, now=NOW).workouts
    starts = [w.start for w in workouts]
    for earliest, latest in [
        (None, None),
        (starts[120], None),
        (None, starts[40]),
        (starts[99], starts[10]),
        (starts[10] + timedelta(seconds=1), starts[10] - timedelta(seconds=1)),
        (NOW, None),
        (None, starts[-1] - timedelta(days=1)),
    ]:
        found = newest_first_between(workouts, lambda workout: workout.start, earliest, latest)
        assert list(found) == [
            index
            for index, start in enumerate(starts)
            if (earliest is None or start >= earliest) and (latest is None or start <= latest)
        ]


# -- SportTracks: a big history served page by page ------------------------------------------


async def test_filters_and_pages_of_a_big_history(
    http: ClientSession, sporttracks: FakeSportTracks, bearer: dict[str, str]
) -> None:
    """noEarlierThan and noLaterThan cut the seeded history; pages walk it newest first."""
    sporttracks.seed_history("16964", 10_000, YEARS)
    workouts = sporttracks.accounts["16964"].workouts
    latest = workouts[4_000].start
    earliest = workouts[4_250].start
    query = {"pageSize": "100", "noLaterThan": latest.isoformat()}
    query["noEarlierThan"] = earliest.isoformat()
    first = await _list(http, sporttracks, bearer, **query)
    assert first["size"] == "251"
    last = await _list(http, sporttracks, bearer, **query, page="2")
    assert len(last["items"]) == 51
    assert "next" not in last
    assert last["items"][-1]["uri"].endswith(f"/{workouts[4_250].id}")
    everything = await _list(http, sporttracks, bearer, pageSize="100", page="99")
    assert everything["size"] == "10000"
    assert everything["items"][-1]["uri"].endswith(f"/{workouts[-1].id}")
    assert "next" not in everything


async def test_summary_statistics_only_when_asked(
    http: ClientSession, sporttracks: FakeSportTracks, bearer: dict[str, str]
) -> None:
    """``data=summary`` adds the detail's statistics, as numbers; the base fields stay strings."""
    plain = (await _list(http, sporttracks, bearer, pageSize="100"))["items"]
    assert not set(STATISTICS) & {key for item in plain for key in item}
    items = (await _list(http, sporttracks, bearer, pageSize="100", data="summary"))["items"]
    for item in items:
        assert isinstance(item["duration"], str)
        assert isinstance(item["clock_duration"], int)
        detail = await (await http.get(item["uri"], headers=bearer)).json()
        assert {key: item.get(key) for key in STATISTICS} == {
            key: detail.get(key) for key in STATISTICS
        }
    workouts = sporttracks.accounts["16964"].workouts[:100]
    assert [item.get("calories") for item in items] == [w.calories_kj for w in workouts]
    assert any(w.calories_kj is None for w in workouts)  # left out where not measured


# -- control endpoint and counters -------------------------------------------------------------


async def test_requests_counted_per_endpoint(
    http: ClientSession, sporttracks: FakeSportTracks, bearer: dict[str, str]
) -> None:
    """Each request counts once under its route; details of different workouts together."""
    items = (await _list(http, sporttracks, bearer, pageSize="2"))["items"]
    for item in items:
        await http.get(item["uri"], headers=bearer)
    await http.get(f"{sporttracks.origin}/nowhere")
    assert sporttracks.endpoint_counts == {
        f"GET {ACTIVITIES}": 1,
        f"GET {ACTIVITIES}/{{id}}": 2,
        "GET /nowhere": 1,
    }


@pytest.fixture
async def control(socket_enabled: None, aiohttp_client: Any) -> tuple[Any, list[FakeService]]:
    """The control endpoint over a fake of each service (not listening themselves)."""
    fakes: list[FakeService] = [
        FakeBACtrack(now=NOW),
        FakeBoditrax(now=NOW),
        FakeSportTracks(now=NOW),
    ]
    return await aiohttp_client(control_app(fakes)), fakes


async def test_control_seeds_and_counts(control: tuple[Any, list[FakeService]]) -> None:
    client, fakes = control
    bactrack, boditrax, sporttracks = fakes
    assert isinstance(bactrack, FakeBACtrack)
    assert isinstance(boditrax, FakeBoditrax)
    assert isinstance(sporttracks, FakeSportTracks)
    answer = await client.post("/bactrack/seed", json={"account": "10261", "count": 500})
    assert await answer.json() == {"seeded": "500 readings of Sam"}
    assert len(bactrack.accounts[10261].readings) == 500
    answer = await client.post(
        "/boditrax/seed", json={"account": "m_123", "count": 30, "years": 0.5}
    )
    oldest = boditrax.members["m_123"].readings[-1].date
    assert oldest >= datetime.now(UTC) - timedelta(days=183)
    assert (await client.post("/boditrax/seed", json={"account": "nobody"})).status == 404
    bad = {"account": "m_123", "count": "many"}
    assert (await client.post("/boditrax/seed", json=bad)).status == 400

    for bad in ({"account": "16964", "count": 0}, {"account": "16964", "count": 9, "years": -1}):
        assert (await client.post("/sporttracks/seed", json=bad)).status == 400
    assert len(sporttracks.accounts["16964"].workouts) == 120

    sporttracks.endpoint_counts["GET /api/v2/fitnessActivities"] += 2
    stats = await (await client.get("/sporttracks/stats")).json()
    assert stats == {"requests": {"GET /api/v2/fitnessActivities": 2}}
    assert await (await client.get("/boditrax/stats")).json() == {"requests": {}}
