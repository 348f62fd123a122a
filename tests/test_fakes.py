"""The fakes behave like the real services, so passing tests mean something."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone
import json
import math
from typing import Any
import zlib

from aiohttp import ClientSession, ServerDisconnectedError
from freezegun.api import FrozenDateTimeFactory
import pytest
from yarl import URL

from fakes import (
    FAKE_SERVICES,
    BoditraxMember,
    FakeBACtrack,
    FakeBoditrax,
    FakeService,
    FakeSportTracks,
    OAuth1Service,
    OAuth2Client,
)
from fakes.__main__ import Changes, control_app, restore, snapshot
from fakes.base import (
    RawJSON,
    deep_json,
    dump_json,
    gzip_bomb,
    huge_json,
    lengthen,
    long_texts,
    numbers_as_strings,
)
from fakes.boditrax import (
    DEFAULT_CLIENT as BODITRAX_CLIENT,
    DEMO_LINKED_SECRET,
    DEMO_LINKED_USERNAME,
    Facility,
    FacilityScan,
)
from fakes.oauth1 import _Credential
from fakes.oauth2 import OAuth2Service, _Grant
from fakes.sporttracks import DEFAULT_CLIENT

from .conftest import NOW

REDIRECT = "https://example.com/auth/external/callback"


@pytest.fixture
async def http(socket_enabled: None) -> AsyncGenerator[ClientSession]:
    """A plain HTTP client."""
    async with ClientSession() as session:
        yield session


async def _code(http: ClientSession, fake: FakeSportTracks, redirect_uri: str = REDIRECT) -> str:
    query = {
        "client_id": DEFAULT_CLIENT.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "state": "s",
        "decision": "allow",
    }
    answer = await http.post(f"{fake.origin}/oauth2/authorize", data=query, allow_redirects=False)
    location = URL(answer.headers["Location"])
    assert location.query["state"] == "s"
    return location.query["code"]


def _exchange(code: str, redirect_uri: str = REDIRECT) -> dict[str, str]:
    return {
        "client_id": DEFAULT_CLIENT.client_id,
        "client_secret": DEFAULT_CLIENT.client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
    }


async def test_authorize_requires_state(http: ClientSession, sporttracks: FakeSportTracks) -> None:
    """SportTracks refuses an empty state, as its documentation says."""
    answer = await http.get(
        f"{sporttracks.origin}/oauth2/authorize",
        params={
            "client_id": DEFAULT_CLIENT.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "",
        },
    )
    assert answer.status == 400


@pytest.mark.parametrize("encoding", ["json", "form", "query"])
async def test_codes_are_single_use_in_every_encoding(
    http: ClientSession, sporttracks: FakeSportTracks, encoding: str
) -> None:
    """JSON, form and query token requests work; a code works once."""
    params = _exchange(await _code(http, sporttracks))
    url = f"{sporttracks.origin}/oauth2/token"
    send = {"json": {"json": params}, "form": {"data": params}, "query": {"params": params}}[
        encoding
    ]
    first = await http.post(url, **send)  # type: ignore[arg-type]
    assert first.status == 200
    assert set(await first.json()) >= {"access_token", "refresh_token", "expires_in"}
    again = await http.post(url, **send)  # type: ignore[arg-type]
    assert again.status == 400
    assert (await again.json())["error"] == "invalid_grant"


async def test_code_is_bound_to_redirect_uri(
    http: ClientSession, sporttracks: FakeSportTracks
) -> None:
    """A code issued for one redirect URI cannot be redeemed with another."""
    code = await _code(http, sporttracks)
    answer = await http.post(
        f"{sporttracks.origin}/oauth2/token", json=_exchange(code, "https://evil.example/cb")
    )
    assert answer.status == 400


async def test_tokens_expire_and_rotate(
    http: ClientSession, sporttracks: FakeSportTracks, frozen_now: FrozenDateTimeFactory
) -> None:
    """Access tokens stop working after two hours; a rotated refresh token replaces the old one."""
    token = await (
        await http.post(
            f"{sporttracks.origin}/oauth2/token", json=_exchange(await _code(http, sporttracks))
        )
    ).json()
    api = f"{sporttracks.origin}/api/v2/fitnessActivities"
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await http.get(api, headers=bearer)).status == 200
    frozen_now.tick(timedelta(hours=2, seconds=1))
    assert (await http.get(api, headers=bearer)).status == 401
    refresh = {
        "client_id": DEFAULT_CLIENT.client_id,
        "client_secret": DEFAULT_CLIENT.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": token["refresh_token"],
    }
    renewed = await (await http.post(f"{sporttracks.origin}/oauth2/token", json=refresh)).json()
    assert renewed["refresh_token"] != token["refresh_token"]
    assert (await http.post(f"{sporttracks.origin}/oauth2/token", json=refresh)).status == 400
    assert (
        await http.get(api, headers={"Authorization": f"Bearer {renewed['access_token']}"})
    ).status == 200


async def test_wire_quirks(http: ClientSession, sporttracks: FakeSportTracks) -> None:
    """Lists carry numbers as strings and the service's own offset spelling; details carry numbers."""
    token = await (
        await http.post(
            f"{sporttracks.origin}/oauth2/token", json=_exchange(await _code(http, sporttracks))
        )
    ).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    listing = await (
        await http.get(f"{sporttracks.origin}/api/v2/fitnessActivities", headers=bearer)
    ).json()
    assert listing["size"] == "120"
    assert len(listing["items"]) == 25
    assert listing["next"].endswith("?page=1")
    assert "previous" not in listing
    first = listing["items"][0]
    assert isinstance(first["duration"], str)
    assert first["start_time"].endswith("-02:-30")
    detail = await (await http.get(first["uri"], headers=bearer)).json()
    assert isinstance(detail["duration"], float)
    assert "sharing" in detail or "privacy" in detail
    unknown = await http.get(f"{sporttracks.origin}/api/v2/fitnessActivities/1", headers=bearer)
    assert unknown.status == 404
    bad = await http.get(
        f"{sporttracks.origin}/api/v2/fitnessActivities", params={"pageSize": "x"}, headers=bearer
    )
    assert bad.status == 400


async def test_replayed_code_revokes_its_tokens(
    http: ClientSession, sporttracks: FakeSportTracks
) -> None:
    """RFC 6749 4.1.2: a code used twice is refused and the tokens issued for it stop working."""
    params = _exchange(await _code(http, sporttracks))
    token = await (await http.post(f"{sporttracks.origin}/oauth2/token", json=params)).json()
    assert (await http.post(f"{sporttracks.origin}/oauth2/token", json=params)).status == 400
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert (
        await http.get(f"{sporttracks.origin}/api/v2/fitnessActivities", headers=bearer)
    ).status == 401


async def test_registered_redirect_uris(http: ClientSession, sporttracks: FakeSportTracks) -> None:
    """An application with registered redirect URIs gets no code for another one."""
    sporttracks.register_client(
        OAuth2Client(
            DEFAULT_CLIENT.client_id, DEFAULT_CLIENT.client_secret, redirect_uris=(REDIRECT,)
        )
    )
    await _code(http, sporttracks)
    answer = await http.get(
        f"{sporttracks.origin}/oauth2/authorize",
        params={
            "client_id": DEFAULT_CLIENT.client_id,
            "response_type": "code",
            "redirect_uri": "https://evil.example/cb",
            "state": "s",
        },
    )
    assert answer.status == 400


def _boditrax_authorize(**extra: str) -> dict[str, str]:
    return {
        "client_id": BODITRAX_CLIENT.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        **extra,
    }


@pytest.mark.parametrize("decision", ["allow", "deny"])
@pytest.mark.parametrize("echo_state", [True, False])
async def test_boditrax_can_drop_state(
    http: ClientSession, boditrax: FakeBoditrax, echo_state: bool, decision: str
) -> None:
    """Boditrax echoes state by default; switched, it sends the browser back without it."""
    boditrax.echo_state = echo_state
    answer = await http.post(
        f"{boditrax.origin}/oauth/auth",
        data=_boditrax_authorize(state="s", decision=decision),
        allow_redirects=False,
    )
    assert answer.status == 302
    location = URL(answer.headers["Location"])
    assert str(location.with_query(None)) == REDIRECT
    expected = {"code"} if decision == "allow" else {"error"}
    assert set(location.query) == expected | ({"state"} if echo_state else set())
    if echo_state:
        assert location.query["state"] == "s"


async def test_boditrax_needs_no_state(http: ClientSession, boditrax: FakeBoditrax) -> None:
    """Boditrax's doc shows no state: its page and its redirect work without one."""
    page = await http.get(f"{boditrax.origin}/oauth/auth", params=_boditrax_authorize())
    assert page.status == 200
    answer = await http.post(
        f"{boditrax.origin}/oauth/auth",
        data=_boditrax_authorize(decision="allow"),
        allow_redirects=False,
    )
    location = URL(answer.headers["Location"])
    assert set(location.query) == {"code"}
    token = await http.post(
        f"{boditrax.origin}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": location.query["code"],
            "redirect_uri": REDIRECT,
            "client_id": BODITRAX_CLIENT.client_id,
            "client_secret": BODITRAX_CLIENT.client_secret,
        },
    )
    assert token.status == 200


def test_demo_accounts_sporttracks() -> None:
    """`python -m fakes serve` adds a second user whose newest workout has every value."""
    fake = FakeSportTracks(now=NOW)
    assert fake.users() == {"16964": "Alex Runner"}  # the default the tests use
    fake.add_demo_accounts()
    assert fake.users() == {"16964": "Alex Runner", "27182": "Bea Cyclist"}
    assert fake.current_user == "16964"
    newest = fake.accounts["27182"].workouts[0]
    assert None not in (
        newest.distance,
        newest.calories_kj,
        newest.elevation_gain,
        newest.avg_heartrate,
        newest.max_heartrate,
    )
    assert newest.start > NOW - timedelta(days=1)


def test_sporttracks_add_record() -> None:
    fake = FakeSportTracks(now=NOW)
    before = fake.accounts["16964"].workouts[0]
    added = fake.add_record("16964")
    assert "16 km run" in added.description
    newest = fake.accounts["16964"].workouts[0]
    assert added.id == str(newest.id)
    assert newest.id == max(workout.id for workout in fake.accounts["16964"].workouts)
    assert newest.start == NOW, "a workout taken now starts now"
    assert (newest.type, newest.distance) == ("Running", 16_000.0)
    assert fake.accounts["16964"].workouts[1] is before


def test_sporttracks_add_record_at_a_time_in_its_offset() -> None:
    """A workout started when asked, written in its offset as SportTracks spells it."""
    fake = FakeSportTracks(now=NOW)
    start = datetime(2026, 11, 20, 7, 15, 30, tzinfo=timezone(-timedelta(hours=2, minutes=30)))
    added = fake.add_record("16964", start)
    newest = fake.accounts["16964"].workouts[0]
    assert (added.id, added.measured_at) == (str(newest.id), start)
    assert newest.start_time_text() == "2026-11-20T07:15:30-02:-30"
    with pytest.raises(ValueError, match="no offset"):
        fake.add_record("16964", start.replace(tzinfo=timezone(timedelta(hours=3))))


async def test_demo_member_behind_a_linked_account(http: ClientSession) -> None:
    """The demo's second member is reached through its own linked account, the default's too."""
    fake = FakeBoditrax(now=NOW)
    fake.add_demo_accounts()
    assert fake.users() == {"m_123": "Jo Lifter", "m_456": "Kim Rower"}
    assert fake.current_user == "m_123"
    assert fake.linked_user(DEMO_LINKED_USERNAME, DEMO_LINKED_SECRET) == "m_456"
    assert fake.linked_user("partner-user-42", "partner-secret") == "m_123"
    assert fake.linked_user(DEMO_LINKED_USERNAME, "partner-secret") is None
    await fake.start()
    try:
        answer = await http.get(
            f"{fake.origin}/oauth/token",
            params={
                "grant_type": "password",
                "client_id": BODITRAX_CLIENT.client_id,
                "username": DEMO_LINKED_USERNAME,
                "password": DEMO_LINKED_SECRET,
            },
        )
        token = (await answer.json())["access_token"]
        members = await http.get(
            f"{fake.origin}/rest/v2.10/members", headers={"Authorization": f"Bearer {token}"}
        )
        assert await members.json() == [{"id": "m_456", "firstname": "Kim", "lastname": "Rower"}]
    finally:
        await fake.stop()


def test_boditrax_add_record() -> None:
    fake = FakeBoditrax(now=NOW)
    before = fake.members["m_123"].readings[0]
    added = fake.add_record("m_123")
    assert "taken now" in added.description
    newest = fake.members["m_123"].readings[0]
    assert (added.id, added.measured_at, newest.date) == (newest.id, NOW, NOW)
    assert set(newest.measurements) == set(before.measurements)
    assert newest.measurements["BodyWeight"] < before.measurements["BodyWeight"]


async def test_boditrax_add_record_at_a_time_in_its_offset(http: ClientSession) -> None:
    """The scan's date is served in the offset it was taken in."""
    fake = FakeBoditrax(now=NOW)
    taken = datetime(2026, 11, 20, 9, 0, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    fake.add_record("m_123", taken)
    await fake.start()
    try:
        answer = await http.get(
            f"{fake.origin}/oauth/token",
            params={
                "grant_type": "password",
                "client_id": BODITRAX_CLIENT.client_id,
                "username": "partner-user-42",
                "password": "partner-secret",
            },
        )
        token = (await answer.json())["access_token"]
        scans = await http.get(
            f"{fake.origin}/rest/v2.10/readings",
            params={"limit": "1"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert (await scans.json())[0]["date"] == "2026-11-20T09:00:05+05:30"
    finally:
        await fake.stop()


async def _app_token(http: ClientSession, fake: FakeBoditrax) -> Any:
    """The token answer of a client-credentials grant with the default app."""
    answer = await http.post(
        f"{fake.origin}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": BODITRAX_CLIENT.client_id,
            "client_secret": BODITRAX_CLIENT.client_secret,
        },
    )
    return answer.status, await answer.json()


async def test_boditrax_app_token(http: ClientSession, boditrax: FakeBoditrax) -> None:
    """The app's own token, as the seed documents it, reads facilities but no member's data."""
    status, token = await _app_token(http, boditrax)
    assert status == 200
    assert set(token) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert token["expires_in"] == 1800
    assert "reporting" in token["scope"].split()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    facilities = await http.get(f"{boditrax.origin}/rest/v2.10/facilities", headers=bearer)
    assert await facilities.json() == [{"id": "f_1", "name": "Riverside Gym"}]
    members = await http.get(f"{boditrax.origin}/rest/v2.10/members", headers=bearer)
    assert members.status == 403
    unknown = await http.get(
        f"{boditrax.origin}/rest/v2.10/facilities/f_9/statistics", headers=bearer
    )
    assert unknown.status == 404


async def test_boditrax_member_token_reads_no_facility(
    http: ClientSession, boditrax: FakeBoditrax
) -> None:
    """A member's token (here a linked account's) is not the app's: facilities answer 403."""
    answer = await http.get(
        f"{boditrax.origin}/oauth/token",
        params={
            "grant_type": "password",
            "client_id": BODITRAX_CLIENT.client_id,
            "username": "partner-user-42",
            "password": "partner-secret",
        },
    )
    bearer = {"Authorization": f"Bearer {(await answer.json())['access_token']}"}
    facilities = await http.get(f"{boditrax.origin}/rest/v2.10/facilities", headers=bearer)
    assert facilities.status == 403


async def test_boditrax_switches(http: ClientSession, boditrax: FakeBoditrax) -> None:
    """A refused secret answers 401 invalid_client; withheld ``reporting`` 403, at once."""
    _, token = await _app_token(http, boditrax)
    boditrax.withhold_reporting = True
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    statistics = await http.get(
        f"{boditrax.origin}/rest/v2.10/facilities/f_1/statistics", headers=bearer
    )
    assert statistics.status == 403
    assert await statistics.json() == {"success": False, "error": "Requires scope reporting"}
    assert "reporting" not in (await _app_token(http, boditrax))[1]["scope"].split()
    boditrax.refuse_secret = True
    status, refused = await _app_token(http, boditrax)
    assert (status, refused["error"]) == (401, "invalid_client")


def test_facility_statistics_count_the_log() -> None:
    """Day, week from Monday, month and 30 days, per machine too; new members this month."""
    facility = Facility("f_9", "Test Gym", machines={"a": "A", "b": "B"})
    monday = NOW - timedelta(days=NOW.weekday())  # NOW is a Friday
    for at, machine in [
        (NOW - timedelta(hours=1), "a"),
        (NOW - timedelta(hours=2), "b"),
        (monday, "a"),
        (NOW.replace(day=1), "a"),
        (NOW - timedelta(days=29), "b"),
        (NOW + timedelta(hours=1), "a"),  # not yet
    ]:
        facility.scans.append(FacilityScan(at, f"m_{machine}_{at.day}", machine))
    facility.joined = {"m_1": NOW.replace(day=2), "m_2": NOW - timedelta(days=40)}
    assert facility.statistics(NOW) == {
        "scans": {"today": 2, "thisweek": 3, "thismonth": 4},
        "members": {"scannedlast30days": 5, "newthismonth": 1},
        "machines": [
            {"id": "a", "name": "A", "scans": {"today": 1, "thisweek": 2, "thismonth": 3}},
            {"id": "b", "name": "B", "scans": {"today": 1, "thisweek": 1, "thismonth": 1}},
        ],
    }


def test_a_members_scan_counts_at_the_facility() -> None:
    fake = FakeBoditrax(now=NOW)
    before = fake.facilities["f_1"].statistics(NOW)["scans"]["today"]
    fake.add_record("m_123")
    assert fake.facilities["f_1"].statistics(NOW)["scans"]["today"] == before + 1


def _world() -> list[FakeService]:
    """A fake of every service at the frozen instant, as ``python -m fakes serve`` makes them."""
    return [FakeBACtrack(now=NOW), FakeBoditrax(now=NOW), FakeSportTracks(now=NOW)]


@pytest.fixture
async def control(socket_enabled: None, aiohttp_client: Any) -> tuple[Any, list[FakeService]]:
    """The fakes' control endpoint over the demo's world (the fakes themselves not listening)."""
    fakes = _world()
    assert [fake.service for fake in fakes] == sorted(FAKE_SERVICES)
    for fake in fakes:
        fake.add_demo_accounts()  # type: ignore[attr-defined]
    return await aiohttp_client(control_app(fakes)), fakes


async def test_control_switches_who_signs_in(control: tuple[Any, list[FakeService]]) -> None:
    client, fakes = control
    sporttracks = next(fake for fake in fakes if isinstance(fake, FakeSportTracks))
    known = await (await client.get("/sporttracks/accounts")).json()
    assert known == {
        "signed_in": "16964",
        "accounts": [
            {"id": "16964", "name": "Alex Runner", "linked": []},
            {"id": "27182", "name": "Bea Cyclist", "linked": []},
        ],
        "echo_state": True,
    }
    answer = await client.post("/sporttracks/sign-in", json={"account": "27182"})
    assert (await answer.json())["signed_in"] == "27182"
    assert sporttracks.current_user == "27182"
    assert (await client.post("/sporttracks/sign-in", json={"account": "nobody"})).status == 404
    # The control page's forms post and come back to the page.
    answer = await client.post(
        "/bactrack/sign-in", data={"account": "10262"}, allow_redirects=False
    )
    assert answer.status == 303
    page = await (await client.get(answer.headers["Location"])).text()
    assert "BACtrack&#x27;s sign-in page now signs in Robin." in page
    boditrax = await (await client.get("/boditrax/accounts")).json()
    assert boditrax["accounts"][1]["linked"] == [
        {"username": DEMO_LINKED_USERNAME, "secret": DEMO_LINKED_SECRET}
    ]


async def test_control_records_and_state(control: tuple[Any, list[FakeService]]) -> None:
    client, fakes = control
    boditrax = next(fake for fake in fakes if isinstance(fake, FakeBoditrax))
    answer = await (await client.post("/boditrax/records", json={"account": "m_456"})).json()
    assert "Kim Rower" in answer["added"]
    newest = boditrax.members["m_456"].readings[0]
    assert (newest.date, answer["id"], answer["measured_at"]) == (
        NOW,
        newest.id,
        NOW.isoformat(),
    )
    assert (await client.post("/boditrax/records", json={"account": "m_1"})).status == 404
    held = await (await client.get("/boditrax/records", params={"account": "m_456"})).json()
    scans = boditrax.members["m_456"].readings
    assert [scan["id"] for scan in held] == [scan.id for scan in scans]
    assert held[0]["date"] == NOW.isoformat()
    assert held[0]["measurements"] == scans[0].measurements
    workouts = await (await client.get("/sporttracks/records?account=27182")).json()
    assert workouts[-1]["start"].endswith("+00:00")
    metrics = await (await client.get("/sporttracks/measurements?account=27182")).json()
    assert set(metrics) == {"weight", "bodyFat", "restingHeartrate"}
    assert metrics["weight"][0][0].endswith("Z")
    assert (await client.get("/boditrax/measurements?account=m_456")).status == 404
    assert (await client.get("/bactrack/records", params={"account": "1"})).status == 404
    answer = await client.post("/boditrax/echo-state", json={"echo_state": False})
    assert await answer.json() == {"echo_state": False}
    assert boditrax.echo_state is False
    assert (await client.post("/bactrack/echo-state", json={"echo_state": False})).status == 404
    page = await (await client.get("/")).text()
    assert "Sign in as Bea Cyclist" in page
    assert "Send state again" in page
    assert "bactrack-demo-key" in page


async def test_control_takes_a_service_down_and_back(
    aiohttp_client: Any, http: ClientSession, sporttracks: FakeSportTracks
) -> None:
    """Down: every data request gets 503 while sign-in still answers; back: served as before."""
    client = await aiohttp_client(control_app([sporttracks]))
    activities = f"{sporttracks.origin}/api/v2/fitnessActivities"
    token = f"{sporttracks.origin}/oauth2/token"
    answer = await client.post("/sporttracks/down", json={"down": True})
    assert await answer.json() == {"down": True}
    assert (await http.get(activities)).status == 503
    assert (await http.post(token, json={"grant_type": "refresh_token"})).status == 401  # no client
    assert "Back up" in await (await client.get("/")).text()
    answer = await client.post("/sporttracks/down", data={"down": "false"}, allow_redirects=False)
    assert answer.status == 303
    assert (await http.get(activities)).status == 401  # served again: no token, no data
    assert sporttracks.faults == []
    assert "Take down" in await (await client.get("/")).text()


async def test_control_records_measured_when_asked(
    control: tuple[Any, list[FakeService]],
) -> None:
    """A record measured at a given time, in its offset; a time the service cannot write is a 400."""
    client, fakes = control
    sporttracks = next(fake for fake in fakes if isinstance(fake, FakeSportTracks))
    start = "2026-11-20T07:15:30-02:30"
    answer = await client.post(
        "/sporttracks/records", json={"account": "16964", "measured_at": start}
    )
    added = await answer.json()
    assert added["measured_at"] == start
    newest = sporttracks.accounts["16964"].workouts[0]
    assert (str(newest.id), newest.start_time_text()) == (added["id"], "2026-11-20T07:15:30-02:-30")
    for measured_at in ("2026-11-20T07:15:30", "2026-11-20T07:15:30+03:00", "tomorrow"):
        answer = await client.post(
            "/sporttracks/records", json={"account": "16964", "measured_at": measured_at}
        )
        assert answer.status == 400, measured_at


async def test_control_switches_faults(control: tuple[Any, list[FakeService]]) -> None:
    """Faults switched on from another process: used up as they serve, all off at once."""
    client, fakes = control
    bactrack = next(fake for fake in fakes if isinstance(fake, FakeBACtrack))
    answer = await client.post(
        "/bactrack/faults", json={"status": 429, "times": 2, "headers": {"Retry-After": "30"}}
    )
    assert await answer.json() == {
        "faults": [{"status": 429, "delay": 0.0, "times": 2, "scope": "api", "path": None}],
        "held": 0,
    }
    (fault,) = bactrack.faults
    assert (fault.headers, fault.take(), fault.take(), fault.take()) == (
        {"Retry-After": "30"},
        True,
        True,
        False,
    )
    await client.post("/bactrack/faults", json={"delay": 35, "times": 1, "scope": "token"})
    shown = await (await client.get("/bactrack/faults")).json()
    assert [(item["times"], item["delay"], item["scope"]) for item in shown["faults"]] == [
        (0, 0.0, "api"),
        (1, 35.0, "token"),
    ]
    bactrack.set_down(True)
    assert await (await client.delete("/bactrack/faults")).json() == {"faults": [], "held": 0}
    assert (bactrack.faults, bactrack.outage) == ([], None)
    for wrong in ({"delay": "long"}, {"times": 1.5}, {"status": True}, {"headers": ["x"]}):
        assert (await client.post("/bactrack/faults", json=wrong)).status == 400, wrong
    assert bactrack.faults == []


async def test_control_moves_a_history_back(control: tuple[Any, list[FakeService]]) -> None:
    """A member who has not scanned for a month; 0 days brings the scans back in place.

    A scan added meanwhile stays as it is: ids never repeat.
    """
    client, fakes = control
    boditrax = next(fake for fake in fakes if isinstance(fake, FakeBoditrax))
    member = boditrax.members["m_123"]
    started = list(member.readings)
    answer = await client.post("/boditrax/history", json={"account": "m_123", "days_ago": 30})
    assert answer.status == 200
    assert [(reading.id, reading.date) for reading in member.readings] == [
        (reading.id, reading.date - timedelta(days=30)) for reading in started
    ]
    assert (await answer.json())["history"].endswith(member.readings[0].date.isoformat())
    added = boditrax.add_record("m_123")
    await client.post("/boditrax/history", json={"account": "m_123", "days_ago": 0})
    assert member.readings == [member.readings[0], *started]
    assert member.readings[0].id == added.id
    for service, body, status in (
        ("boditrax", {"account": "m_1", "days_ago": 1}, 404),
        ("boditrax", {"account": "m_123", "days_ago": "a month"}, 400),
        ("sporttracks", {"account": "16964", "days_ago": 1}, 404),
    ):
        assert (await client.post(f"/{service}/history", json=body)).status == status
    boditrax.add_member(BoditraxMember("m_9", "Given Scans"))
    assert (await client.post("/boditrax/history", json={"account": "m_9"})).status == 404


def test_state_survives_a_restart() -> None:
    """Tokens, who is signed in and echo_state come back; unknown accounts' tokens do not."""
    fakes = _world()
    sporttracks = next(fake for fake in fakes if isinstance(fake, FakeSportTracks))
    bactrack = next(fake for fake in fakes if isinstance(fake, FakeBACtrack))
    sporttracks.current_user = "16964"
    sporttracks.echo_state = False
    sporttracks.access_tokens["a"] = _Grant("16964", DEFAULT_CLIENT.client_id, 123.0)
    sporttracks.refresh_tokens["r"] = _Grant("16964", DEFAULT_CLIENT.client_id)
    sporttracks.refresh_tokens["gone"] = _Grant("99", DEFAULT_CLIENT.client_id)
    bactrack.access_tokens["t"] = _Credential("t", "s", "bactrack-demo-key", user_id="10261")
    boditrax = next(fake for fake in fakes if isinstance(fake, FakeBoditrax))
    app = _Grant("", BODITRAX_CLIENT.client_id, 123.0, application=True)
    boditrax.access_tokens["app"] = app
    state = json.loads(json.dumps(snapshot(fakes, 4321)))
    assert state["ports"]["control"] == 4321

    again = _world()
    restore(again, state)
    sporttracks = next(fake for fake in again if isinstance(fake, FakeSportTracks))
    bactrack = next(fake for fake in again if isinstance(fake, FakeBACtrack))
    assert sporttracks.echo_state is False
    assert sporttracks.access_tokens == {"a": _Grant("16964", DEFAULT_CLIENT.client_id, 123.0)}
    assert set(sporttracks.refresh_tokens) == {"r"}
    assert bactrack.access_tokens["t"].user_id == "10261"
    assert bactrack.access_tokens["t"].expires_at == math.inf
    boditrax = next(fake for fake in again if isinstance(fake, FakeBoditrax))
    assert boditrax.access_tokens == {"app": app}  # an application's token has no account


async def test_control_page_revokes_one_accounts_sign_in(
    control: tuple[Any, list[FakeService]],
) -> None:
    """The page's button revokes one account's tokens and says what Home Assistant does next."""
    client, fakes = control
    sporttracks = next(fake for fake in fakes if isinstance(fake, FakeSportTracks))
    sporttracks.access_tokens["a"] = _Grant("16964", DEFAULT_CLIENT.client_id, 123.0)
    sporttracks.access_tokens["b"] = _Grant("27182", DEFAULT_CLIENT.client_id, 123.0)
    assert "Revoke its sign-in" in await (await client.get("/")).text()
    answer = await client.post(
        "/sporttracks/revoke", data={"account": "16964"}, allow_redirects=False
    )
    assert set(sporttracks.access_tokens) == {"b"}
    page = await (await client.get(answer.headers["Location"])).text()
    assert "no longer accepts the sign-in of Alex Runner" in page
    assert "re-authenticate" in page


async def test_a_kept_demo_serves_the_same_records_after_a_restart(
    socket_enabled: None, aiohttp_client: Any
) -> None:
    """Stopped and started again later, the fakes serve the same records, the ones the control
    page added included (same ids, times and values): no value goes back, nothing is new."""
    changes = Changes(seeded_at=NOW - timedelta(days=2))
    fakes = changes.world()
    client = await aiohttp_client(control_app(fakes, changes))
    for service, account in (
        ("sporttracks", "27182"),
        ("boditrax", "m_123"),
        ("bactrack", "10261"),
    ):
        assert (await client.post(f"/{service}/records", json={"account": account})).status == 200
    measured_at = {"account": "16964", "measured_at": "2026-11-19T07:15:30-02:30"}
    assert (await client.post("/sporttracks/records", json=measured_at)).status == 200
    moved = {"account": "m_456", "days_ago": 30}
    assert (await client.post("/boditrax/history", json=moved)).status == 200
    assert len((await (await client.get("/changes")).json())["done"]) == 5
    state = json.loads(json.dumps(snapshot(fakes, 4321, changes)))

    again = Changes.from_state(state).world()
    restore(again, state)
    for before, after in zip(fakes, again, strict=True):
        assert isinstance(before, OAuth2Service | OAuth1Service)
        for account in before.users():
            held = [asdict(record) for record in before.records_of(account)]  # type: ignore[attr-defined]
            assert [asdict(record) for record in after.records_of(account)] == held  # type: ignore[attr-defined]
    assert Changes.from_state({}).seeded_at == datetime.now(UTC), "no state: seeded now"


# -- switches the fault matrix (issue 10) needs ------------------------------------------------


def _refresh(refresh_token: object) -> dict[str, object]:
    return {
        "client_id": DEFAULT_CLIENT.client_id,
        "client_secret": DEFAULT_CLIENT.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }


async def _signed_in(http: ClientSession, fake: FakeSportTracks) -> dict[str, object]:
    answer = await http.post(f"{fake.origin}/oauth2/token", json=_exchange(await _code(http, fake)))
    assert answer.status == 200
    token: dict[str, object] = await answer.json()
    return token


async def test_rotated_refresh_token_dies_at_once(
    http: ClientSession, sporttracks: FakeSportTracks
) -> None:
    """By default a rotated refresh token is refused the moment its successor is issued."""
    assert (sporttracks.refresh_policy, sporttracks.rotation_grace) == ("rotate", 0)
    url = f"{sporttracks.origin}/oauth2/token"
    first = (await _signed_in(http, sporttracks))["refresh_token"]
    second = (await (await http.post(url, json=_refresh(first))).json())["refresh_token"]
    assert sporttracks.rotated == {first: second}
    refused = await http.post(url, json=_refresh(first))
    assert refused.status == 400
    assert await refused.json() == {
        "error": "invalid_grant",
        "error_description": "Refresh token was rotated.",
    }
    assert (await http.post(url, json=_refresh(second))).status == 200


async def test_rotation_grace(
    http: ClientSession, sporttracks: FakeSportTracks, frozen_now: FrozenDateTimeFactory
) -> None:
    """Switched, the replaced refresh token works a little longer (as at some services), then dies."""
    sporttracks.rotation_grace = 60
    url = f"{sporttracks.origin}/oauth2/token"
    first = (await _signed_in(http, sporttracks))["refresh_token"]
    second = (await (await http.post(url, json=_refresh(first))).json())["refresh_token"]
    frozen_now.tick(59)
    assert (await http.post(url, json=_refresh(first))).status == 200
    frozen_now.tick(2)
    assert (await http.post(url, json=_refresh(first))).status == 400
    assert first not in sporttracks.refresh_tokens
    assert (await http.post(url, json=_refresh(second))).status == 200


@pytest.mark.parametrize("raw", ['"Infinity"', "1e999", "NaN", "-5", "1000000000000"])
async def test_expires_in_as_raw_json(
    http: ClientSession,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    raw: str,
) -> None:
    """Token answers announce any lifetime, written as is; the token still lives the real one."""
    sporttracks.expires_in_json = raw
    answer = await http.post(
        f"{sporttracks.origin}/oauth2/token", json=_exchange(await _code(http, sporttracks))
    )
    text = await answer.text()
    assert f'"expires_in": {raw}' in text
    bearer = {"Authorization": f"Bearer {json.loads(text)['access_token']}"}
    api = f"{sporttracks.origin}/api/v2/fitnessActivities"
    assert (await http.get(api, headers=bearer)).status == 200
    frozen_now.tick(timedelta(hours=2, seconds=1))
    assert (await http.get(api, headers=bearer)).status == 401


async def test_dropped_connection(http: ClientSession, sporttracks: FakeSportTracks) -> None:
    """drop: the request arrives, the connection closes without an answer; cleared, it answers."""
    url = f"{sporttracks.origin}/oauth2/token"
    sporttracks.fail(drop=True, scope="token")
    with pytest.raises(ServerDisconnectedError):
        await http.post(url, json={})
    assert sporttracks.count("/oauth2/token") == 1  # a POST is not sent again
    sporttracks.clear_faults()
    assert (await http.post(url, json={})).status == 400


async def test_chunked_body(http: ClientSession, sporttracks: FakeSportTracks) -> None:
    """chunks: sent chunked, without Content-Length, as it is made; ``sent`` counts what went out."""
    size = 3 * 2**20 + 5
    fault = sporttracks.fail(200, chunks=huge_json(size, chunk=1000))
    answer = await http.get(f"{sporttracks.origin}/api/v2/fitnessActivities")
    assert answer.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in answer.headers
    body = await answer.read()
    assert len(body) == size == fault.sent
    assert json.loads(body) == {"items": []}


async def test_gzip_bomb_is_sent_as_it_is(
    http: ClientSession, sporttracks: FakeSportTracks
) -> None:
    """Bytes with a Content-Encoding header go out untouched: a small body that inflates a lot."""
    inflated = 16 * 2**20
    bomb = gzip_bomb(inflated)
    assert len(bomb) < inflated / 500
    sporttracks.fail(200, bomb, headers={"Content-Encoding": "gzip"})
    async with http.get(
        f"{sporttracks.origin}/api/v2/fitnessActivities", auto_decompress=False
    ) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        assert await answer.read() == bomb
    text = zlib.decompress(bomb, 16 + zlib.MAX_WBITS)
    assert len(text) == inflated
    assert json.loads(text) == {"items": []}


def test_deep_json_and_raw_fragments() -> None:
    """Deep JSON defeats Python's decoder; ``RawJSON`` writes what ``json.dumps`` cannot."""
    assert deep_json(3) == "[[[]]]"
    with pytest.raises(RecursionError):
        json.loads(deep_json())
    assert (
        dump_json({"a": RawJSON("1e999"), "b": [RawJSON("NaN"), 1], "c": "raw-json-0"})
        == '{"a": 1e999, "b": [NaN, 1], "c": "raw-json-0"}'
    )
    assert numbers_as_strings({"a": 1, "b": True, "c": [2.5, None, "x"]}) == {
        "a": "1",
        "b": True,
        "c": ["2.5", None, "x"],
    }


async def test_rewrites_of_real_answers(http: ClientSession, sporttracks: FakeSportTracks) -> None:
    """rewrite: the service answers and its JSON is sent changed; refusals pass unchanged."""
    bearer = {"Authorization": f"Bearer {(await _signed_in(http, sporttracks))['access_token']}"}
    newest = sporttracks.accounts["16964"].workouts[0]
    detail = f"{sporttracks.origin}/api/v2/fitnessActivities/{newest.id}"
    sporttracks.fail(rewrite=numbers_as_strings, path=f"/api/v2/fitnessActivities/{newest.id}")
    answer = await (await http.get(detail, headers=bearer)).json()
    assert (answer["duration"], answer["user_id"]) == (str(newest.duration), "16964")
    sporttracks.clear_faults()
    sporttracks.fail(rewrite=long_texts("type"))
    listing = await (
        await http.get(f"{sporttracks.origin}/api/v2/fitnessActivities", headers=bearer)
    ).json()
    item = listing["items"][0]
    assert item["type"] == lengthen(newest.type)
    assert len(item["type"]) == 300
    assert item["name"] == newest.name
    refused = await http.get(f"{sporttracks.origin}/api/v2/fitnessActivities")
    assert refused.status == 401
    assert (await refused.json())["error"] == "invalid_token"


# -- writing to SportTracks (issue 23): health metrics and workout uploads --------------------


async def _bearer(http: ClientSession, fake: FakeSportTracks) -> dict[str, str]:
    token = await _signed_in(http, fake)
    return {"Authorization": f"Bearer {token['access_token']}"}


async def test_metrics_are_read_and_upserted_all_or_nothing(
    http: ClientSession, sporttracks: FakeSportTracks
) -> None:
    """GET lists each metric as [timestamp, value]; POST upserts in either documented shape,
    null deletes, and a body with one bad value changes nothing."""
    headers = await _bearer(http, sporttracks)
    url = f"{sporttracks.origin}/api/v2/metrics"
    seeded = await (await http.get(url, headers=headers)).json()
    assert set(seeded) == {"weight", "bodyFat", "restingHeartrate"}
    assert len(seeded["weight"]) == 13
    assert all(0 < value < 1 for _, value in seeded["bodyFat"]), "a fraction, not %"
    at = "2026-11-19T07:30:00Z"
    answer = await http.post(
        url, headers=headers, json={"timestamp": at, "weight": 80.5, "bodyFat": 0.18}
    )
    assert await answer.json() == {"status": "ok"}
    again = await http.post(url, headers=headers, json={"weight": [[at, 80.4]]})
    assert again.status == 200
    metrics = await (await http.get(url, headers=headers)).json()
    assert [at, 80.4] in metrics["weight"]
    assert [at, 0.18] in metrics["bodyFat"]
    assert len(metrics["weight"]) == 14, "the same time twice is one value"
    refused = await http.post(
        url, headers=headers, json={"weight": [[at, None]], "bodyFat": [[at, "lots"]]}
    )
    assert refused.status == 400
    assert [at, 80.4] in (await (await http.get(url, headers=headers)).json())["weight"]
    await http.post(url, headers=headers, json={"weight": [[at, None]]})
    assert [at, 80.4] not in (await (await http.get(url, headers=headers)).json())["weight"]
    unknown = await http.post(url, headers=headers, json={"timestamp": at, "mood": 3})
    assert unknown.status == 400


async def test_an_uploaded_workout_is_listed_once(
    http: ClientSession, sporttracks: FakeSportTracks
) -> None:
    """POST a workout (start_time required): its uri comes back and the list holds it; a
    refused upload (401, as for an expired trial) and a slow one are switches of their own."""
    headers = await _bearer(http, sporttracks)
    url = f"{sporttracks.origin}/api/v2/fitnessActivities"
    assert (await http.post(url, headers=headers, json={"type": "Rowing"})).status == 400
    answer = await http.post(
        url,
        headers=headers,
        json={
            "start_time": "2026-11-20T07:00:00+01:00",
            "type": "Rowing",
            "name": "erg",
            "duration": 1800,
            "total_distance": 6000,
            "calories": 1200,
        },
    )
    (uri,) = (await answer.json())["uris"]
    newest = sporttracks.accounts["16964"].workouts[0]
    assert uri.endswith(f"/fitnessActivities/{newest.id}")
    assert (newest.type, newest.start_time_text(), newest.calories_kj) == (
        "Rowing",
        "2026-11-20T07:00:00+01:00",
        1200.0,
    )
    sporttracks.fail(
        401, '{"error": "trial expired"}', path="/api/v2/fitnessActivities", method="POST"
    )
    assert (
        await http.post(url, headers=headers, json={"start_time": "2026-11-20T08:00:00Z"})
    ).status == 401
    assert (await http.get(url, headers=headers)).status == 200, "reads still work"


async def test_a_kept_demo_keeps_what_home_assistant_wrote(http: ClientSession) -> None:
    """Metrics and a workout written through the API are there again after a restart, the
    workout with the same id; a write refused (400) is not noted."""
    changes = Changes(seeded_at=NOW - timedelta(days=2))
    fakes = changes.world()
    (fake,) = [item for item in fakes if isinstance(item, FakeSportTracks)]
    await fake.start()
    try:
        headers = await _bearer(http, fake)
        api = f"{fake.origin}/api/v2"
        at = "2026-11-19T07:30:00Z"
        body = {"timestamp": at, "weight": 80.5, "bodyFat": 0.18}
        assert (await http.post(f"{api}/metrics", headers=headers, json=body)).status == 200
        workout = {"start_time": "2026-11-20T07:00:00+01:00", "type": "Rowing", "duration": 1800}
        for sent in (workout, {"type": "no start"}):
            await http.post(f"{api}/fitnessActivities", headers=headers, json=sent)
    finally:
        await fake.stop()
    assert [change.get("write") for change in changes.done] == [
        "POST /metrics",
        "POST /fitnessActivities",
    ]
    state = json.loads(json.dumps(snapshot(fakes, 4321, changes)))
    again = Changes.from_state(state).world()
    (after,) = [item for item in again if isinstance(item, FakeSportTracks)]
    before_account, after_account = fake.accounts["16964"], after.accounts["16964"]
    assert after_account.metrics == before_account.metrics
    assert [asdict(w) for w in after_account.workouts] == [
        asdict(w) for w in before_account.workouts
    ]
