"""The fakes behave like the real services, so passing tests mean something."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
import pytest
from yarl import URL

from fakes import FakeBoditrax, FakeSportTracks, OAuth2Client
from fakes.boditrax import DEFAULT_CLIENT as BODITRAX_CLIENT
from fakes.sporttracks import DEFAULT_CLIENT

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
