"""The client layer on its own: no Home Assistant, straight against the fakes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta, timezone
import json
from pathlib import Path
import re
import shutil
import socket
import subprocess
import sys

from aiohttp import ClientSession, TCPConnector
import pytest
from yarl import URL

import custom_components.health_trackers as integration
from custom_components.health_trackers.clients.api import ServiceApi
from custom_components.health_trackers.clients.bactrack import BACtrackClient, Reading
from custom_components.health_trackers.clients.base import Account, Cursor, RecordsSince
from custom_components.health_trackers.clients.boditrax import (
    BoditraxClient,
    BoditraxFacilityClient,
    FacilityStatistics,
    Scan,
    ScanCounts,
)
from custom_components.health_trackers.clients.exceptions import InvalidResponseError
from custom_components.health_trackers.clients.oauth1 import (
    OAuth1Dance,
    OAuth1Settings,
    OAuth1Signer,
)
from custom_components.health_trackers.clients.shapes import endpoint, shape
from custom_components.health_trackers.clients.sporttracks import (
    HealthMetrics,
    SportTracksClient,
    Workout,
    WorkoutSummary,
)
from fakes import FakeBACtrack, FakeBoditrax, FakeSportTracks, OAuth2Client
from fakes.bactrack import DEFAULT_CONSUMER
from fakes.boditrax import DEFAULT_CLIENT as BODITRAX_CLIENT
from fakes.oauth2 import OAuth2Service
from fakes.sporttracks import DEFAULT_CLIENT as SPORTTRACKS_CLIENT

from .conftest import NOW

REDIRECT = "https://example.com/callback"
CLIENT_MODULES = sorted(
    path.stem
    for path in (Path(integration.__file__).parent / "clients").glob("*.py")
    if path.stem != "__init__"
)


class Bearer:
    """A fixed OAuth 2.0 access token."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def async_authorization(self, method: str, url: URL) -> str:
        return f"Bearer {self.token}"


@pytest.fixture
async def http(socket_enabled: None) -> AsyncGenerator[ClientSession]:
    """A plain session, IPv4 as the fakes listen."""
    async with ClientSession(connector=TCPConnector(family=socket.AF_INET)) as session:
        yield session


async def _bearer(http: ClientSession, fake: OAuth2Service, client: OAuth2Client) -> Bearer:
    """An access token through the fake's consent page and code exchange."""
    decision = await http.post(
        fake.origin + fake.authorize_path,
        data={
            "client_id": client.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "s",
            "decision": "allow",
        },
        allow_redirects=False,
    )
    code = URL(decision.headers["Location"]).query["code"]
    answer = await http.post(
        fake.origin + fake.token_path,
        data={
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
        },
    )
    return Bearer((await answer.json())["access_token"])


def _list_queries(fake: OAuth2Service | FakeBACtrack, path: str) -> list[dict[str, str]]:
    return [request.query for request in fake.requests if request.path == path]


def test_clients_import_without_home_assistant(tmp_path: Path) -> None:
    """``clients`` and each of its modules import as a top-level package with Home Assistant blocked.

    A copy of it alone, so the integration's platform modules (``calendar``) shadow nothing.
    """
    shutil.copytree(Path(integration.__file__).parent / "clients", tmp_path / "clients")
    script = "\n".join(
        [
            "import importlib, sys",
            "sys.modules['homeassistant'] = None",
            f"sys.path.insert(0, {str(tmp_path)!r})",
            "import clients",
            *(f"importlib.import_module('clients.{name}')" for name in CLIENT_MODULES),
            "assert not any(name.split('.')[0] == 'homeassistant' for name in sys.modules"
            " if sys.modules[name] is not None)",
            "print('ok')",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert {"api", "base", "bactrack", "boditrax", "exceptions", "oauth1", "parsing"} <= set(
        CLIENT_MODULES
    )
    assert "sporttracks" in CLIENT_MODULES


# -- SportTracks ----------------------------------------------------------------------------


@pytest.fixture
async def sporttracks_client(
    http: ClientSession, sporttracks: FakeSportTracks
) -> SportTracksClient:
    return SportTracksClient(
        http, sporttracks.origin, await _bearer(http, sporttracks, SPORTTRACKS_CLIENT)
    )


async def test_sporttracks_metrics(
    sporttracks_client: SportTracksClient, sporttracks: FakeSportTracks
) -> None:
    """Each metric's series as the fake holds it, oldest first; the newest of each."""
    metrics = await sporttracks_client.async_get_metrics()
    held = sporttracks.accounts["16964"].metrics
    for metric in ("weight", "bodyFat", "restingHeartrate"):
        assert metrics.series[metric] == tuple(sorted(held[metric].items())), metric
        assert metrics.latest(metric) == max(held[metric].items())
    assert metrics.latest("vo2max") is None


def test_sporttracks_metrics_are_read_tolerantly() -> None:
    """An unknown id is kept as sent; entries that cannot be read are left out, not the rest."""
    metrics = HealthMetrics.parse(
        {
            "weight": [
                ["2026-11-01T07:00:00Z", 80.1],
                ["yesterday", 80.0],
                ["2026-11-02T07:00:00Z", "79.9"],
            ],
            "bodyFat": "a lot",
            "hydration": [
                ["2026-11-01T07:00:00+01:00", 0.6, "extra"],
                ["2026-11-01T08:00:00Z", None],
            ],
        }
    )
    assert metrics is not None
    assert [value for _, value in metrics.series["weight"]] == [80.1, 79.9]
    assert "bodyFat" not in metrics.series
    assert metrics.series["hydration"] == ()
    assert HealthMetrics.parse(["weight"]) is None


async def test_sporttracks_account(sporttracks_client: SportTracksClient) -> None:
    account = await sporttracks_client.async_get_account()
    assert (account.id, account.name) == ("16964", None)


async def test_sporttracks_records_since_a_cursor(
    sporttracks: FakeSportTracks, sporttracks_client: SportTracksClient
) -> None:
    """The workouts after the cursor, oldest first, with their detail; pages as asked."""
    workouts = sporttracks.accounts["16964"].workouts  # newest first
    at = workouts[4]
    cursor = Cursor(at.start, str(at.id))
    sporttracks.requests.clear()
    found = await sporttracks_client.async_records_since(cursor, page_size=2)
    assert [record.id for record in found.new] == [str(w.id) for w in reversed(workouts[:4])]
    assert [item.id for item in found.listed] == [str(w.id) for w in workouts[:6]]
    assert found.newest == Cursor(workouts[0].start, str(workouts[0].id))
    assert found.complete
    assert found.total == len(workouts)
    newest = found.new[-1]
    assert newest.start == workouts[0].start
    assert newest.energy == workouts[0].calories_kj
    assert newest.distance == workouts[0].distance
    lists = _list_queries(sporttracks, "/api/v2/fitnessActivities")
    assert lists == [
        {"pageSize": "2", "data": "summary"},
        {"pageSize": "2", "data": "summary", "page": "1"},
        {"pageSize": "2", "data": "summary", "page": "2"},
    ]
    details = [r.path for r in sporttracks.requests if r.path != "/api/v2/fitnessActivities"]
    assert details == [f"/api/v2/fitnessActivities/{w.id}" for w in reversed(workouts[:4])]


async def test_sporttracks_probe_and_bound(
    sporttracks: FakeSportTracks, sporttracks_client: SportTracksClient
) -> None:
    """A one-item first page answers 'nothing new' alone; max_pages bounds the read."""
    newest = sporttracks.accounts["16964"].workouts[0]
    sporttracks.requests.clear()
    found = await sporttracks_client.async_records_since(
        Cursor(newest.start, str(newest.id)), first_page=1
    )
    assert found.new == ()
    assert found.complete
    assert len(sporttracks.requests) == 1
    oldest = sporttracks.accounts["16964"].workouts[-1]
    partial = await sporttracks_client.async_records_since(
        Cursor(oldest.start, str(oldest.id)), page_size=3, max_pages=2
    )
    assert len(partial.new) == 6
    assert not partial.complete


async def test_sporttracks_newest_without_a_cursor(
    sporttracks: FakeSportTracks, sporttracks_client: SportTracksClient
) -> None:
    """Without a cursor nothing is new: the first page, as listed, without detail requests."""
    workouts = sporttracks.accounts["16964"].workouts
    sporttracks.requests.clear()
    found = await sporttracks_client.async_records_since(None, first_page=2)
    assert found.new == ()
    assert [item.id for item in found.listed] == [str(w.id) for w in workouts[:2]]
    assert all(type(item) is WorkoutSummary for item in found.listed)
    assert found.complete
    assert [r.path for r in sporttracks.requests] == ["/api/v2/fitnessActivities"]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {
                "start_time": "2014-04-04T07:09:53-02:-30",
                "total_distance": "5758.16",
                "duration": "2102.00",
                "type": "Running",
                "name": " ",
                "uri": "https://api.sporttracks.mobi/api/v2/fitnessActivities/5556610",
            },
            ("5556610", datetime(2014, 4, 4, 9, 39, 53, tzinfo=UTC), 5758.16, 2102.0, None),
        ),
        (
            {"start_time": "2014-04-04T07:09:53Z", "type": "Gym"},
            (
                "2014-04-04T07:09:53+00:00",
                datetime(2014, 4, 4, 7, 9, 53, tzinfo=UTC),
                None,
                None,
                None,
            ),
        ),
    ],
)
def test_sporttracks_list_items(item: dict[str, str], expected: tuple[object, ...]) -> None:
    """Numbers as strings, SportTracks' own offsets, blank names; no link: known by its start."""
    summary = WorkoutSummary.parse(item)
    assert summary is not None
    assert (summary.id, summary.start, summary.distance, summary.duration, summary.name) == expected


SUMMARY_ITEM = {
    "start_time": "2014-04-04T07:09:53+01:00",
    "total_distance": "5758.16",
    "duration": "2102.00",
    "type": "Running",
    "name": "running",
    "user_id": "16964",
    "uri": "https://api.sporttracks.mobi/api/v2/fitnessActivities/5556610",
    "clock_duration": 2197,
    "elevation_gain": 9.09,
    "calories": 1916,
    "avg_heartrate": 168,
}
"""A list item asked with ``data=summary``, as the service sent it (service-apis.md §1.4)."""


@pytest.mark.parametrize(
    ("detail", "energy"),
    [({"calories": 1800, "avg_heartrate": 170}, 1800.0), ({"avg_heartrate": 170}, 1916.0)],
)
def test_sporttracks_energy_from_the_list(detail: dict[str, object], energy: float) -> None:
    """The list's ``calories`` is the summary's energy (kJ); a detail's own value comes first."""
    summary = WorkoutSummary.parse(SUMMARY_ITEM)
    assert summary is not None
    assert summary.energy == 1916.0
    workout = Workout.of(summary, detail)
    assert (workout.energy, workout.avg_heart_rate) == (energy, 170.0)
    plain = WorkoutSummary.parse({k: v for k, v in SUMMARY_ITEM.items() if k != "calories"})
    assert plain is not None
    assert plain.energy is None


@pytest.mark.parametrize("item", ["junk", {"type": "Running"}, {"start_time": "yesterday"}])
def test_sporttracks_unreadable_items(item: object) -> None:
    assert WorkoutSummary.parse(item) is None


# -- Boditrax -------------------------------------------------------------------------------


@pytest.fixture
async def boditrax_client(http: ClientSession, boditrax: FakeBoditrax) -> BoditraxClient:
    return BoditraxClient(http, boditrax.origin, await _bearer(http, boditrax, BODITRAX_CLIENT))


async def test_boditrax_account(boditrax_client: BoditraxClient) -> None:
    assert (await boditrax_client.async_get_account()).id == "m_123"


async def test_boditrax_records_since_a_cursor(
    boditrax: FakeBoditrax, boditrax_client: BoditraxClient
) -> None:
    """A probe, then the listing in pages of the asked size; what is read twice counts once."""
    readings = boditrax.members["m_123"].readings
    cursor = Cursor(readings[3].date, readings[3].id)
    boditrax.requests.clear()
    found = await boditrax_client.async_records_since(cursor, first_page=1, page_size=2)
    assert [scan.id for scan in found.new] == [r.id for r in reversed(readings[:3])]
    assert found.new[-1].metrics == readings[0].measurements
    assert [scan.id for scan in found.listed] == [r.id for r in readings[:4]]
    assert _list_queries(boditrax, "/rest/v2.10/readings") == [
        {"limit": "1"},
        {"limit": "2"},
        {"limit": "2", "page": "1"},
    ]


async def test_boditrax_newest_scans(
    boditrax: FakeBoditrax, boditrax_client: BoditraxClient
) -> None:
    """A first page of the last scans in one request; nothing is new without a cursor."""
    readings = boditrax.members["m_123"].readings
    boditrax.requests.clear()
    found = await boditrax_client.async_records_since(None, first_page=20)
    assert found.new == ()
    assert [scan.id for scan in found.listed] == [r.id for r in readings[:20]]
    assert _list_queries(boditrax, "/rest/v2.10/readings") == [{"limit": "20"}]


async def test_boditrax_scans_wrapped_in_an_object(
    boditrax: FakeBoditrax, boditrax_client: BoditraxClient
) -> None:
    """A list the contract says comes bare is still read when the service wraps it."""
    readings = boditrax.members["m_123"].readings
    boditrax.fail(rewrite=lambda answer: {"readings": answer}, path="/rest/v2.10/readings")
    found = await boditrax_client.async_records_since(None, first_page=20)
    assert [scan.id for scan in found.listed] == [r.id for r in readings[:20]]
    assert boditrax_client.api.answers["GET /rest/v2.10/readings"].shape["readings"]["list"] == 20


async def test_boditrax_facility_client(http: ClientSession, boditrax: FakeBoditrax) -> None:
    """An app's own token: the facilities it reports on, and one request for the statistics."""
    answer = await http.post(
        f"{boditrax.origin}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": BODITRAX_CLIENT.client_id,
            "client_secret": BODITRAX_CLIENT.client_secret,
        },
    )
    client = BoditraxFacilityClient(
        http, boditrax.origin, Bearer((await answer.json())["access_token"])
    )
    assert await client.async_get_accounts() == [Account("f_1", "Riverside Gym")]
    boditrax.requests.clear()
    statistics = await client.async_get_statistics("f_1")
    assert [r.path for r in boditrax.requests] == ["/rest/v2.10/facilities/f_1/statistics"]
    served = boditrax.facilities["f_1"].statistics(NOW)
    assert statistics.scans.today == served["scans"]["today"]
    assert statistics.new_members_this_month == served["members"]["newthismonth"]
    assert [(m.id, m.name, m.scans.this_month) for m in statistics.machines] == [
        (m["id"], m["name"], m["scans"]["thismonth"]) for m in served["machines"]
    ]
    boditrax.fail(200, '["f_2", {"name": "no id"}, {"id": "f_3", "name": " "}]', times=1)
    assert await client.async_get_accounts() == [Account("f_2"), Account("f_3")]


def test_facility_statistics_read_tolerantly() -> None:
    """Counts as strings or whole floats are read; fractions, negatives and junk are not."""
    statistics = FacilityStatistics.parse(
        {
            "scans": {"today": "4", "thisweek": 9.0, "thismonth": 2.5},
            "members": {"scannedlast30days": -1, "newthismonth": True},
            "machines": {"bx_1": {}},
        }
    )
    assert statistics.scans == ScanCounts(today=4, this_week=9, this_month=None)
    assert statistics.members_scanned_last_30_days is None
    assert statistics.new_members_this_month is None
    assert statistics.machines is None  # not a list: it says nothing of the machines
    assert statistics.machine("bx_1") is None
    assert FacilityStatistics.parse({"machines": []}).machines == ()


def test_boditrax_export_values() -> None:
    """Decimal commas and day-first dates without a zone, as exports write them."""
    scan = Scan.parse(
        {
            "date": "15/01/2024 08:15:30",
            "measurements": {"BodyWeight": "79,5", "FatMass": "n/a", "Shiny": 3},
        }
    )
    assert scan == Scan(
        id="2024-01-15T08:15:30+00:00",
        date=datetime(2024, 1, 15, 8, 15, 30, tzinfo=UTC),
        metrics={"BodyWeight": 79.5, "Shiny": 3.0},
    )
    assert Scan.parse({"id": "r_1", "date": "someday"}) is None


# -- BACtrack -------------------------------------------------------------------------------


@pytest.fixture
async def bactrack_fake(socket_enabled: None) -> AsyncGenerator[FakeBACtrack]:
    fake = FakeBACtrack(now=datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def bactrack_client(http: ClientSession, bactrack_fake: FakeBACtrack) -> BACtrackClient:
    """An access token through the OAuth 1.0a dance of the client layer."""
    dance = OAuth1Dance(
        http,
        bactrack_fake.origin,
        OAuth1Settings(
            request_token_path=bactrack_fake.request_token_path,
            authorize_path=bactrack_fake.authorize_path,
            access_token_path=bactrack_fake.access_token_path,
        ),
        (DEFAULT_CONSUMER.key, DEFAULT_CONSUMER.secret),
        query=BACtrackClient.query,
    )
    request_token = await dance.async_request_token("https://ha.example/callback")
    page = await http.get(dance.authorize_url(request_token))
    assert page.status == 200, await page.text()
    allowed = await http.post(
        bactrack_fake.origin + bactrack_fake.authorize_path,
        data={"oauth_token": request_token.token, "decision": "allow"},
        allow_redirects=False,
    )
    verifier = URL(allowed.headers["Location"]).query["oauth_verifier"]
    access = await dance.async_access_token(request_token, verifier)
    return BACtrackClient(http, bactrack_fake.origin, OAuth1Signer(*dance.consumer, access))


async def test_bactrack_account(bactrack_client: BACtrackClient) -> None:
    account = await bactrack_client.async_get_account()
    assert (account.id, account.name) == ("10261", "Sam")  # the first name, else the username


async def test_bactrack_records_since_a_cursor(
    bactrack_fake: FakeBACtrack, bactrack_client: BACtrackClient
) -> None:
    """Readings after the cursor, oldest first, following the service's links page by page."""
    readings = bactrack_fake.accounts[10261].readings
    cursor = Cursor(readings[7].timestamp, str(readings[7].id))
    bactrack_fake.requests.clear()
    found = await bactrack_client.async_records_since(cursor, page_size=3)
    assert [reading.id for reading in found.new] == [str(r.id) for r in reversed(readings[:7])]
    assert found.new[-1].bac == readings[0].bac
    assert found.total == len(readings)
    queries = _list_queries(bactrack_fake, "/v1/readings/")
    assert [(query["limit"], query["offset"]) for query in queries] == [
        ("3", "0"),
        ("3", "3"),
        ("3", "6"),
    ]


@pytest.mark.parametrize(
    ("first_page", "pages"),
    [
        (None, [("1000", "0"), ("1000", "1000"), ("1000", "2000")]),
        (10, [("10", "0"), ("1000", "10"), ("1000", "1010"), ("1000", "2010")]),
    ],
)
async def test_bactrack_reads_the_largest_pages(
    bactrack_fake: FakeBACtrack,
    bactrack_client: BACtrackClient,
    first_page: int | None,
    pages: list[tuple[str, str]],
) -> None:
    """2,500 new readings and the known one: pages of 1,000, after a small first one if asked."""
    bactrack_fake.seed_history("10261", 3_000, 10)
    readings = bactrack_fake.accounts[10261].readings
    cursor = Cursor(readings[2_500].timestamp, str(readings[2_500].id))
    bactrack_fake.requests.clear()
    found = await bactrack_client.async_records_since(cursor, first_page=first_page)
    assert [reading.id for reading in found.new] == [str(r.id) for r in reversed(readings[:2_500])]
    queries = _list_queries(bactrack_fake, "/v1/readings/")
    assert [(query["limit"], query["offset"]) for query in queries] == pages


async def test_bactrack_records_back_to(
    bactrack_fake: FakeBACtrack, bactrack_client: BACtrackClient
) -> None:
    """Reading goes on past the cursor until a page reaches back past ``back_to``."""
    readings = bactrack_fake.accounts[10261].readings
    cursor = Cursor(readings[1].timestamp, str(readings[1].id))
    found = await bactrack_client.async_records_since(
        cursor, page_size=5, back_to=readings[7].timestamp
    )
    assert [reading.id for reading in found.new] == [str(readings[0].id)]
    assert [reading.id for reading in found.listed] == [str(r.id) for r in readings[:10]]
    assert found.complete


def test_merged_replaces_what_the_read_covers() -> None:
    """Kept records in the read's range that it did not list were deleted; older ones stay.

    Records of the oldest listed one's instant stay too: a service may list one instant's
    records in another order than ours.
    """
    at = datetime(2026, 11, 20, tzinfo=UTC)

    def reading(number: int, minutes: int) -> Reading:
        return Reading(
            id=str(number),
            timestamp=at + timedelta(minutes=minutes),
            bac=0.01,
            location=None,
            notes=None,
        )

    kept = [reading(5, 50), reading(4, 40), reading(3, 30), reading(2, 30), reading(1, 10)]
    found = RecordsSince[Reading, Reading](
        new=(), listed=(reading(6, 60), reading(4, 40), reading(3, 30)), complete=True, total=5
    )
    assert [r.id for r in found.merged(kept)] == ["6", "4", "3", "2", "1"]
    empty = RecordsSince[Reading, Reading](new=(), listed=(), complete=True, total=0)
    assert empty.merged(kept) == []


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"id": 1, "timestamp": "2026-11-20T12:03:00", "bac_level": "lots"}, None),
        ({"id": 2, "timestamp": "yesterday", "bac_level": 0.1}, None),
        ({"id": 3, "timestamp": "2026-11-20T12:02:00", "bac_level": 7.5}, None),
        ("not an object", None),
        (
            {"id": "4", "timestamp": "2026-11-20T07:01:30-05:00", "bac_level": "0.064"},
            Reading(
                id="4",
                timestamp=datetime(2026, 11, 20, 12, 1, 30, tzinfo=UTC),
                bac=0.064,
                location=None,
                notes=None,
            ),
        ),
        (
            {
                "resource_uri": "/v1/readings/5/",
                "timestamp": "2026-11-20T02:31:07",
                "bac_level": 0.052,
                "latitude": "42.3587",
                "longitude": -71.0965,
                "notes": " after dinner ",
            },
            Reading(
                id="/v1/readings/5/",
                timestamp=datetime(2026, 11, 20, 2, 31, 7, tzinfo=UTC),
                bac=0.052,
                location=(42.3587, -71.0965),
                notes="after dinner",
            ),
        ),
    ],
)
def test_bactrack_readings(item: object, expected: Reading | None) -> None:
    """Strings for numbers, offsets honoured, no zone is UTC; unreadable readings are skipped."""
    assert Reading.parse(item) == expected
    if expected is not None:
        assert expected.measured_at == expected.timestamp


def test_cursor_order() -> None:
    """Cursors order by instant, then id: the numbers in ids by value, the rest as text."""
    at = datetime(2026, 11, 20, tzinfo=UTC)
    later = at + timedelta(seconds=1)
    assert Cursor(at, "2") < Cursor(later, "1") < Cursor(later, "2") < Cursor(later, "10")
    assert Cursor(later, "99999") < Cursor(later, "100000") < Cursor(later, "a")
    assert Cursor(at, "r_m_123_99") < Cursor(at, "r_m_123_100") < Cursor(at, "r_m_124_1")
    assert Cursor(at, "07") < Cursor(at, "7") < Cursor(at, "8")  # one number, two ids
    assert Cursor(later, "1") >= Cursor(at.astimezone(timezone(timedelta(hours=2))), "9")
    assert sorted([Cursor(at, "10"), Cursor(at, "9"), Cursor(later, "1")]) == [
        Cursor(at, "9"),
        Cursor(at, "10"),
        Cursor(later, "1"),
    ]
    with pytest.raises(TypeError):
        assert Cursor(at, "1") < "2"  # type: ignore[operator]


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("/v1/readings/?format=json&offset=10", "/v1/readings/?format=json&offset=10"),
        ("https://api.sporttracks.mobi/api/v2/fitnessActivities/7", "/api/v2/fitnessActivities/7"),
        ("//evil.example/steal?x=1", "/steal?x=1"),
        ("https://api.sporttracks.mobi//evil.example/steal", "//evil.example/steal"),
        ("https://evil.example:8443/steal", "/steal"),
    ],
)
def test_links_never_leave_the_origin(link: str, expected: str) -> None:
    """A link the service sends keeps only its path and query: the token never goes elsewhere."""
    api = ServiceApi(None, "http://127.0.0.1:8123", None)  # type: ignore[arg-type]
    url = api.url(link)
    assert url.origin() == URL("http://127.0.0.1:8123")
    assert url.raw_path_qs == expected


@pytest.mark.parametrize("link", ["http://[oops", 42])
def test_a_link_that_is_not_a_url_is_an_invalid_answer(link: object) -> None:
    api = ServiceApi(None, "http://127.0.0.1:8123", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidResponseError):
        api.url(link)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        (
            "GET",
            "https://x.test/rest/v2.10/facilities/f_1/statistics",
            "GET /rest/v2.10/facilities/{id}/statistics",
        ),
        (
            "GET",
            "https://x.test/api/v2/fitnessActivities/123?x=1",
            "GET /api/v2/fitnessActivities/{id}",
        ),
        ("POST", "https://x.test/api/v2/system/connect", "POST /api/v2/system/connect"),
        ("GET", "https://x.test/v1/readings/", "GET /v1/readings/"),
    ],
)
def test_an_endpoint_is_named_without_ids(method: str, url: str, expected: str) -> None:
    """Ids in a path (a facility's, a workout's) are values: the endpoint's name masks them."""
    assert endpoint(method, URL(url)) == expected


def test_a_shape_holds_no_value() -> None:
    """Keys (digits masked), types and lengths; no number, text or date of the answer."""
    answer = {
        "2026-11-20": {"weight": 81.5, "ok": True, "note": "secret", "gone": None},
        "items": [{"id": 7}, {"id": 8}],
        "empty": [],
    }
    found = shape(answer)
    assert found == {
        "####-##-##": {"weight": "number", "ok": "boolean", "note": "string(6)", "gone": "null"},
        "items": {"list": 2, "first": {"id": "number"}},
        "empty": {"list": 0, "first": None},
    }
    assert not {"81.5", "secret", "2026", "7"} & set(re.findall(r"[\w.]+", json.dumps(found)))


def test_a_shape_stays_small() -> None:
    """Deep nesting is cut off and an object's keys past the first 40 are counted, not listed."""
    deep: object = "leaf"
    for _ in range(10):
        deep = {"a": deep}
    assert json.dumps(shape(deep)).count('"a"') == 6
    found = shape({f"{chr(97 + n % 26)}{chr(97 + n // 26)}": n for n in range(45)})
    assert len(found) == 41
    assert found["…"] == "5 more keys"
