"""The fake BACtrack speaks real OAuth 1.0a and the readings API, so passing tests mean something."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import timedelta, timezone
import re
import socket
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import ClientResponse, ClientSession, ServerDisconnectedError, TCPConnector
from authlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_PLAINTEXT, ClientAuth
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from yarl import URL

from fakes import FAKE_SERVICES, BACReading, BACtrackUser, FakeBACtrack, OAuth1Consumer
from fakes.bactrack import DEFAULT_CONSUMER, DEMO_NOTE, DEMO_PLACE
from fakes.base import lengthen, long_texts, numbers_as_strings

from .conftest import NOW

CALLBACK = "https://ha.example/api/health_trackers/oauth1/callback?flow=abc"
ME = "/internal_v1/users/me/?format=json"
READINGS = "/v1/readings/?format=json&person=me"


@pytest.fixture
async def http(socket_enabled: None) -> AsyncGenerator[ClientSession]:
    """A plain HTTP client (the integration's and the browser's side), IPv4 as the fake."""
    async with ClientSession(connector=TCPConnector(family=socket.AF_INET)) as session:
        yield session


@pytest.fixture
async def bactrack(socket_enabled: None) -> AsyncGenerator[FakeBACtrack]:
    """The fake BACtrack, listening at the frozen test instant."""
    fake = FakeBACtrack(now=NOW)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def sign(
    method: str,
    url: str,
    *,
    consumer: OAuth1Consumer = DEFAULT_CONSUMER,
    token: str | None = None,
    token_secret: str | None = None,
    callback: str | None = None,
    verifier: str | None = None,
    signature_method: str = SIGNATURE_HMAC_SHA1,
) -> tuple[URL, dict[str, str]]:
    """Sign a request the way the integration does: HMAC-SHA1 in the Authorization header."""
    auth = ClientAuth(
        consumer.key,
        consumer.secret,
        token=token,
        token_secret=token_secret,
        redirect_uri=callback,
        verifier=verifier,
        signature_method=signature_method,
    )
    uri, headers, _ = auth.prepare(method, url, {}, b"")
    return URL(uri, encoded=True), headers


async def send(
    http: ClientSession, method: str, signed: tuple[URL, dict[str, str]]
) -> ClientResponse:
    url, headers = signed
    return await http.request(method, url, headers=headers, allow_redirects=False)


async def get(
    http: ClientSession, fake: FakeBACtrack, path: str, token: tuple[str, str]
) -> ClientResponse:
    """A signed API GET with an access token."""
    return await send(
        http, "GET", sign("GET", fake.origin + path, token=token[0], token_secret=token[1])
    )


def form(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))


async def request_token(
    http: ClientSession, fake: FakeBACtrack, callback: str = CALLBACK
) -> dict[str, str]:
    url = f"{fake.origin}{fake.request_token_path}?format=json"
    answer = await send(http, "POST", sign("POST", url, callback=callback))
    assert answer.status == 200, await answer.text()
    return form(await answer.text())


async def decide(
    http: ClientSession, fake: FakeBACtrack, token: str, decision: str = "allow"
) -> ClientResponse:
    """What the browser does: show the consent page, press a button."""
    page = await http.get(f"{fake.origin}{fake.authorize_path}", params={"oauth_token": token})
    assert page.status == 200, await page.text()
    return await http.post(
        f"{fake.origin}{fake.authorize_path}",
        data={"oauth_token": token, "decision": decision},
        allow_redirects=False,
    )


async def exchange(
    http: ClientSession, fake: FakeBACtrack, temporary: dict[str, str], verifier: str
) -> ClientResponse:
    url = f"{fake.origin}{fake.access_token_path}?format=json"
    signed = sign(
        "POST",
        url,
        token=temporary["oauth_token"],
        token_secret=temporary["oauth_token_secret"],
        verifier=verifier,
    )
    return await send(http, "POST", signed)


async def sign_in(http: ClientSession, fake: FakeBACtrack) -> tuple[str, str]:
    """The whole dance; the access token and its secret."""
    temporary = await request_token(http, fake)
    location = URL((await decide(http, fake, temporary["oauth_token"])).headers["Location"])
    answer = await exchange(http, fake, temporary, location.query["oauth_verifier"])
    assert answer.status == 200, await answer.text()
    token = form(await answer.text())
    return token["oauth_token"], token["oauth_token_secret"]


def shown_verifier(page: str) -> str:
    match = re.search(r'<code id="verifier">([^<]+)</code>', page)
    assert match, page
    return match[1]


async def test_three_legged_dance(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """Request token with a callback, consent, redirect with the verifier, access token, API."""
    temporary = await request_token(http, bactrack)
    assert temporary["oauth_callback_confirmed"] == "true"
    assert set(temporary) == {"oauth_token", "oauth_token_secret", "oauth_callback_confirmed"}

    page = await http.get(
        f"{bactrack.origin}/oauth/authorize/", params={"oauth_token": temporary["oauth_token"]}
    )
    text = await page.text()
    assert page.status == 200
    assert "Signed in as <b>Sam</b>" in text
    assert "<b>Home Assistant</b>" in text
    assert '<button type="submit" name="decision" value="allow" id="allow">' in text
    assert 'id="deny"' in text

    redirect = await http.post(
        f"{bactrack.origin}/oauth/authorize/",
        data={"oauth_token": temporary["oauth_token"], "decision": "allow"},
        allow_redirects=False,
    )
    assert redirect.status == 302
    location = URL(redirect.headers["Location"])
    assert (
        str(location.with_query(None)) == "https://ha.example/api/health_trackers/oauth1/callback"
    )
    assert location.query["flow"] == "abc"
    assert location.query["oauth_token"] == temporary["oauth_token"]

    answer = await exchange(http, bactrack, temporary, location.query["oauth_verifier"])
    assert answer.status == 200
    assert answer.content_type == "application/x-www-form-urlencoded"
    token = form(await answer.text())
    assert set(token) == {"oauth_token", "oauth_token_secret"}

    me = await get(http, bactrack, ME, (token["oauth_token"], token["oauth_token_secret"]))
    assert me.status == 200
    assert await me.json() == {
        "id": 10261,
        "resource_uri": "/internal_v1/users/10261/",
        "username": "sam",
        "first_name": "Sam",
    }
    readings = await get(
        http,
        bactrack,
        f"{READINGS}&limit=10&offset=0",
        (token["oauth_token"], token["oauth_token_secret"]),
    )
    body = await readings.json()
    assert body["meta"]["total_count"] == 40
    assert [item["id"] for item in body["objects"]] == [
        r.id for r in bactrack.accounts[10261].readings[:10]
    ]


# Home Assistant's resolver gives ``::1`` first, which the test harness refuses; aiohttp goes on
# to 127.0.0.1, as it does on a machine without IPv6.
@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket.connect:UserWarning")
async def test_localhost_from_home_assistants_session(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    http: ClientSession,
    disable_mock_zeroconf_resolver: None,
) -> None:
    """The integration's own session reaches the fake through ``localhost``.

    Only with ``disable_mock_zeroconf_resolver``: the test plugin's session-wide resolver
    belongs to another event loop and cannot resolve names in a test.
    """
    assert bactrack.origin.startswith("http://localhost:")
    token = await sign_in(http, bactrack)
    url, headers = sign("GET", bactrack.origin + ME, token=token[0], token_secret=token[1])
    answer = await async_get_clientsession(hass).get(url, headers=headers)
    assert answer.status == 200
    assert (await answer.json())["id"] == 10261


async def test_oob_shows_the_verifier(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """With ``oob`` the page shows the verifier for the user to paste."""
    temporary = await request_token(http, bactrack, callback="oob")
    assert temporary["oauth_callback_confirmed"] == "true"
    page = await decide(http, bactrack, temporary["oauth_token"])
    assert page.status == 200
    answer = await exchange(http, bactrack, temporary, shown_verifier(await page.text()))
    assert answer.status == 200


async def test_oauth_1_0_provider_ignores_the_callback(
    http: ClientSession, bactrack: FakeBACtrack
) -> None:
    """Without callback confirmation the callback is not used: the verifier is shown instead."""
    bactrack.confirm_callback = False
    temporary = await request_token(http, bactrack)
    assert "oauth_callback_confirmed" not in temporary
    page = await decide(http, bactrack, temporary["oauth_token"])
    assert page.status == 200
    assert "Location" not in page.headers
    answer = await exchange(http, bactrack, temporary, shown_verifier(await page.text()))
    assert answer.status == 200


async def test_deny_redirects_with_denied(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """Deny sends the browser back with ``denied`` and drops the request token."""
    temporary = await request_token(http, bactrack)
    redirect = await decide(http, bactrack, temporary["oauth_token"], "deny")
    assert redirect.status == 302
    location = URL(redirect.headers["Location"])
    assert dict(location.query) == {"flow": "abc", "denied": temporary["oauth_token"]}
    page = await http.get(
        f"{bactrack.origin}/oauth/authorize/", params={"oauth_token": temporary["oauth_token"]}
    )
    assert page.status == 400
    answer = await exchange(http, bactrack, temporary, "anything")
    assert answer.status == 401


async def test_deny_with_oob_shows_a_page(http: ClientSession, bactrack: FakeBACtrack) -> None:
    temporary = await request_token(http, bactrack, callback="oob")
    page = await decide(http, bactrack, temporary["oauth_token"], "deny")
    assert page.status == 200
    assert "Access denied" in await page.text()
    assert temporary["oauth_token"] not in bactrack.request_tokens


async def test_unknown_request_token_page(http: ClientSession, bactrack: FakeBACtrack) -> None:
    page = await http.get(f"{bactrack.origin}/oauth/authorize/", params={"oauth_token": "nope"})
    assert page.status == 400
    assert page.content_type == "text/html"


def _tamper(headers: dict[str, str]) -> dict[str, str]:
    value = re.sub(
        r'oauth_signature="[^"]+"',
        'oauth_signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D"',
        headers["Authorization"],
    )
    return {**headers, "Authorization": value}


def _rsa(headers: dict[str, str]) -> dict[str, str]:
    value = headers["Authorization"].replace('"HMAC-SHA1"', '"RSA-SHA1"')
    return {**headers, "Authorization": value}


@pytest.mark.parametrize(
    ("consumer", "method", "mangle", "text"),
    [
        (DEFAULT_CONSUMER, SIGNATURE_HMAC_SHA1, _tamper, "Invalid signature"),
        (
            OAuth1Consumer(DEFAULT_CONSUMER.key, "wrong"),
            SIGNATURE_HMAC_SHA1,
            None,
            "Invalid signature",
        ),
        (
            OAuth1Consumer("unknown", DEFAULT_CONSUMER.secret),
            SIGNATURE_HMAC_SHA1,
            None,
            "Invalid consumer key",
        ),
        (DEFAULT_CONSUMER, SIGNATURE_PLAINTEXT, None, "Signature method must be HMAC-SHA1"),
        (DEFAULT_CONSUMER, SIGNATURE_HMAC_SHA1, _rsa, "Signature method must be HMAC-SHA1"),
    ],
    ids=["tampered", "wrong-secret", "unknown-consumer", "plaintext", "rsa"],
)
async def test_api_refuses_bad_signatures(
    http: ClientSession,
    bactrack: FakeBACtrack,
    consumer: OAuth1Consumer,
    method: str,
    mangle: Callable[[dict[str, str]], dict[str, str]] | None,
    text: str,
) -> None:
    """Only a correct HMAC-SHA1 signature by the token's consumer reaches the API."""
    token = await sign_in(http, bactrack)
    url, headers = sign(
        "GET",
        bactrack.origin + ME,
        consumer=consumer,
        token=token[0],
        token_secret=token[1],
        signature_method=method,
    )
    if mangle is not None:
        headers = mangle(headers)
    answer = await http.get(url, headers=headers)
    assert answer.status == 401
    assert await answer.text() == text
    assert consumer.secret not in text


async def test_request_token_refuses_plaintext_and_bad_secret(
    http: ClientSession, bactrack: FakeBACtrack
) -> None:
    url = f"{bactrack.origin}/oauth/request_token/?format=json"
    plaintext = await send(
        http, "POST", sign("POST", url, callback="oob", signature_method=SIGNATURE_PLAINTEXT)
    )
    assert plaintext.status == 401
    wrong = OAuth1Consumer(DEFAULT_CONSUMER.key, "wrong")
    answer = await send(http, "POST", sign("POST", url, consumer=wrong, callback="oob"))
    assert (answer.status, await answer.text()) == (401, "Invalid signature")
    missing = await send(http, "POST", sign("POST", url))
    assert missing.status == 400
    assert not bactrack.request_tokens


async def test_replayed_nonce_is_refused(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """The same Authorization header twice: the second is a replay."""
    token = await sign_in(http, bactrack)
    signed = sign("GET", bactrack.origin + ME, token=token[0], token_secret=token[1])
    assert (await send(http, "GET", signed)).status == 200
    again = await send(http, "GET", signed)
    assert (again.status, await again.text()) == (401, "Nonce already used")


@pytest.mark.parametrize(("seconds", "status"), [(299, 200), (301, 401), (-301, 401)])
async def test_timestamp_window(
    http: ClientSession,
    bactrack: FakeBACtrack,
    freezer: FrozenDateTimeFactory,
    seconds: int,
    status: int,
) -> None:
    """A signature made more than 5 minutes before (or after) the server's clock is refused."""
    token = await sign_in(http, bactrack)
    signed = sign("GET", bactrack.origin + ME, token=token[0], token_secret=token[1])
    freezer.tick(timedelta(seconds=seconds))
    answer = await send(http, "GET", signed)
    assert answer.status == status, await answer.text()


async def test_wrong_verifier_keeps_the_request_token(
    http: ClientSession, bactrack: FakeBACtrack
) -> None:
    """A mistyped verifier is refused; the right one still works; then the token is used up."""
    temporary = await request_token(http, bactrack)
    location = URL((await decide(http, bactrack, temporary["oauth_token"])).headers["Location"])
    wrong = await exchange(http, bactrack, temporary, "0000")
    assert (wrong.status, await wrong.text()) == (401, "Invalid verifier")
    right = await exchange(http, bactrack, temporary, location.query["oauth_verifier"])
    assert right.status == 200
    reused = await exchange(http, bactrack, temporary, location.query["oauth_verifier"])
    assert (reused.status, await reused.text()) == (401, "Invalid or expired token")


async def test_unauthorized_request_token_has_no_verifier(
    http: ClientSession, bactrack: FakeBACtrack
) -> None:
    temporary = await request_token(http, bactrack)
    answer = await exchange(http, bactrack, temporary, "guess")
    assert answer.status == 401


async def test_request_tokens_expire(
    http: ClientSession, bactrack: FakeBACtrack, freezer: FrozenDateTimeFactory
) -> None:
    """Ten minutes to consent and exchange."""
    temporary = await request_token(http, bactrack)
    location = URL((await decide(http, bactrack, temporary["oauth_token"])).headers["Location"])
    freezer.tick(timedelta(seconds=601))
    answer = await exchange(http, bactrack, temporary, location.query["oauth_verifier"])
    assert (answer.status, await answer.text()) == (401, "Invalid or expired token")


async def test_revoked_access_token(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """Access tokens never expire, but a revoked one answers 401."""
    token = await sign_in(http, bactrack)
    other = await sign_in(http, bactrack)
    bactrack.revoke("10261")
    answer = await get(http, bactrack, ME, token)
    assert (answer.status, await answer.text()) == (401, "Invalid or expired token")
    assert (await get(http, bactrack, ME, other)).status == 401


async def test_access_token_belongs_to_its_consumer(
    http: ClientSession, bactrack: FakeBACtrack
) -> None:
    other = bactrack.register_consumer(OAuth1Consumer("other-key", "other-secret", "Other app"))
    token = await sign_in(http, bactrack)
    signed = sign(
        "GET", bactrack.origin + ME, consumer=other, token=token[0], token_secret=token[1]
    )
    answer = await send(http, "GET", signed)
    assert answer.status == 401


@pytest.mark.parametrize(
    "path", ["/internal_v1/users/me/", "/v1/readings/?person=me", "/oauth/request_token/"]
)
async def test_json_format_is_required(
    http: ClientSession, bactrack: FakeBACtrack, path: str
) -> None:
    """Without ``format=json`` or a JSON content type BACtrack answers a bare 400."""
    token = await sign_in(http, bactrack)
    method = "POST" if path.startswith("/oauth") else "GET"
    signed = sign(
        method, bactrack.origin + path, token=token[0], token_secret=token[1], callback="oob"
    )
    answer = await send(http, method, signed)
    assert answer.status == 400
    assert answer.content_type == "text/plain"
    assert await answer.text() == "Bad Request"


async def test_json_content_type_instead_of_format(
    http: ClientSession, bactrack: FakeBACtrack
) -> None:
    token = await sign_in(http, bactrack)
    url, headers = sign(
        "GET", bactrack.origin + "/internal_v1/users/me/", token=token[0], token_secret=token[1]
    )
    answer = await http.get(url, headers={**headers, "Content-Type": "application/json"})
    assert answer.status == 200


async def test_paging(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """tastypie meta: limit, offset, total_count, next/previous links that can be followed."""
    token = await sign_in(http, bactrack)
    first = await (await get(http, bactrack, f"{READINGS}&limit=15", token)).json()
    assert first["meta"] == {
        "limit": 15,
        "next": "/v1/readings/?format=json&person=me&limit=15&offset=15",
        "offset": 0,
        "previous": None,
        "total_count": 40,
    }
    ids = [item["id"] for item in first["objects"]]
    page = first
    while page["meta"]["next"]:
        page = await (await get(http, bactrack, page["meta"]["next"], token)).json()
        ids += [item["id"] for item in page["objects"]]
    assert page["meta"]["offset"] == 30
    assert page["meta"]["previous"] == "/v1/readings/?format=json&person=me&limit=15&offset=15"
    assert len(page["objects"]) == 10
    assert ids == [reading.id for reading in bactrack.accounts[10261].readings]
    assert ids == sorted(ids, reverse=True)

    default = await (await get(http, bactrack, READINGS, token)).json()
    assert (default["meta"]["limit"], len(default["objects"])) == (20, 20)
    capped = await (await get(http, bactrack, f"{READINGS}&limit=5000", token)).json()
    assert (capped["meta"]["limit"], len(capped["objects"]), capped["meta"]["next"]) == (
        1000,
        40,
        None,
    )
    as_many_as_allowed = await (await get(http, bactrack, f"{READINGS}&limit=0", token)).json()
    assert as_many_as_allowed["meta"]["limit"] == 1000
    beyond = await (await get(http, bactrack, f"{READINGS}&offset=40", token)).json()
    assert beyond["objects"] == []


@pytest.mark.parametrize(
    "query",
    [
        "format=json",
        "format=json&person=10261",
        "format=json&person=me&limit=ten",
        "format=json&person=me&offset=-1",
    ],
)
async def test_readings_bad_requests(
    http: ClientSession, bactrack: FakeBACtrack, query: str
) -> None:
    token = await sign_in(http, bactrack)
    answer = await get(http, bactrack, f"/v1/readings/?{query}", token)
    assert (answer.status, await answer.text()) == (400, "Bad Request")


async def test_reading_objects(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """Objects as the contract shows them: UTC timestamps without a zone, BAC as a number."""
    token = await sign_in(http, bactrack)
    newest = bactrack.accounts[10261].readings[0]
    page = await (await get(http, bactrack, f"{READINGS}&limit=1", token)).json()
    expected: dict[str, Any] = {
        "id": newest.id,
        "resource_uri": f"/v1/readings/{newest.id}/",
        "person": "/internal_v1/users/10261/",
        "timestamp": newest.timestamp.strftime("%Y-%m-%dT%H:%M:%S"),
        "bac_level": newest.bac,
        "latitude": newest.latitude,
        "longitude": newest.longitude,
        "notes": newest.notes,
        "photo": None,
        "is_public": newest.is_public,
    }
    assert page["objects"] == [expected]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", expected["timestamp"])
    one = await get(http, bactrack, f"/v1/readings/{newest.id}/?format=json", token)
    assert await one.json() == expected
    assert (await get(http, bactrack, "/v1/readings/1/?format=json", token)).status == 404
    assert (await get(http, bactrack, "/internal_v1/users/10261/?format=json", token)).status == 200
    assert (await get(http, bactrack, "/internal_v1/users/1/?format=json", token)).status == 404

    bactrack.bac_as_string = True
    page = await (await get(http, bactrack, f"{READINGS}&limit=1", token)).json()
    assert page["objects"][0]["bac_level"] == f"{newest.bac:.3f}"


async def test_each_user_sees_only_their_readings(
    http: ClientSession, bactrack: FakeBACtrack
) -> None:
    """The consent page signs in ``current_user``; tokens read only that user's data."""
    sam = bactrack.accounts[10261]
    alex = bactrack.add_user(BACtrackUser.generate(20500, "alex", "", seed=3, count=5, now=NOW))
    bactrack.current_user = "20500"
    token = await sign_in(http, bactrack)
    assert (await (await get(http, bactrack, ME, token)).json())["username"] == "alex"
    page = await (await get(http, bactrack, READINGS, token)).json()
    assert [item["id"] for item in page["objects"]] == [reading.id for reading in alex.readings]
    assert {item["person"] for item in page["objects"]} == {"/internal_v1/users/20500/"}
    other = await get(http, bactrack, f"/v1/readings/{sam.readings[0].id}/?format=json", token)
    assert other.status == 404
    assert bactrack.users() == {"10261": "Sam", "20500": "alex"}


async def test_token_format_json(http: ClientSession, bactrack: FakeBACtrack) -> None:
    bactrack.token_format = "json"
    url = f"{bactrack.origin}/oauth/request_token/?format=json"
    answer = await send(http, "POST", sign("POST", url, callback=CALLBACK))
    temporary = await answer.json()
    assert set(temporary) == {"oauth_token", "oauth_token_secret", "oauth_callback_confirmed"}
    assert temporary["oauth_callback_confirmed"] is True
    location = URL((await decide(http, bactrack, temporary["oauth_token"])).headers["Location"])
    token = await (
        await exchange(http, bactrack, temporary, location.query["oauth_verifier"])
    ).json()
    assert set(token) == {"oauth_token", "oauth_token_secret"}
    assert (
        await get(http, bactrack, ME, (token["oauth_token"], token["oauth_token_secret"]))
    ).status == 200


async def test_faults_by_scope(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """Token endpoints, the consent page and the API fail separately."""
    assert bactrack.fault_scope("/oauth/request_token/") == "token"
    assert bactrack.fault_scope("/oauth/access_token/") == "token"
    assert bactrack.fault_scope("/oauth/authorize/") == "authorize"
    assert bactrack.fault_scope("/v1/readings/") == "api"
    token = await sign_in(http, bactrack)
    bactrack.fail(400, "Bad Request", content_type="text/plain", times=1)
    flaky = await get(http, bactrack, READINGS, token)
    assert (flaky.status, await flaky.text()) == (400, "Bad Request")
    assert (await get(http, bactrack, READINGS, token)).status == 200
    bactrack.fail(503, scope="token")
    url = f"{bactrack.origin}/oauth/request_token/?format=json"
    assert (await send(http, "POST", sign("POST", url, callback="oob"))).status == 503


def test_registered_for_the_demo() -> None:
    fake = FAKE_SERVICES["bactrack"]()
    assert isinstance(fake, FakeBACtrack)
    assert fake.consumers == {DEFAULT_CONSUMER.key: DEFAULT_CONSUMER}
    assert fake.current_user == "10261"
    assert len(fake.accounts[10261].readings) == 40


def test_generated_history_is_realistic_and_deterministic() -> None:
    """Same seed, same history; a session in the last hours and one 3-8 days back."""
    user = BACtrackUser.generate(10261, "sam", "Sam", seed=21, count=40, now=NOW)
    again = BACtrackUser.generate(10261, "sam", "Sam", seed=21, count=40, now=NOW)
    assert user == again
    assert (
        user.readings
        != BACtrackUser.generate(10261, "sam", "Sam", seed=22, count=40, now=NOW).readings
    )
    readings = user.readings
    assert len(readings) == 40
    assert all(
        reading.timestamp.tzinfo is not None and reading.timestamp < NOW for reading in readings
    )
    assert [r.timestamp for r in readings] == sorted((r.timestamp for r in readings), reverse=True)
    assert [r.id for r in readings] == sorted({r.id for r in readings}, reverse=True)
    recent = [r for r in readings if r.timestamp > NOW - timedelta(hours=24)]
    assert 3 <= len(recent) <= 4
    assert all(NOW - timedelta(hours=6) <= r.timestamp <= NOW - timedelta(hours=1) for r in recent)
    assert 0.03 <= max(r.bac for r in recent) <= 0.14
    before = readings[len(recent)]
    assert NOW - timedelta(days=8, hours=12) <= before.timestamp <= NOW - timedelta(days=2)
    assert all(0 <= r.bac <= 0.14 for r in readings)
    assert any(r.bac == 0 for r in readings)
    assert any(r.latitude is not None and r.notes for r in readings)
    assert any(r.latitude is None and r.notes is None for r in readings)


def test_add_reading_keeps_newest_first() -> None:
    user = BACtrackUser.generate(1, "a", "A", seed=1, count=5, now=NOW)
    late = BACReading(user.readings[0].id + 1, NOW, 0.02)
    middle = BACReading(
        user.readings[0].id + 2, user.readings[2].timestamp + timedelta(seconds=1), 0.0
    )
    user.add_reading(middle)
    user.add_reading(late)
    assert user.readings[0] is late
    assert user.readings[3] is middle
    assert len(BACtrackUser.generate(1, "a", "A", seed=1, count=2, now=NOW).readings) == 2


async def test_malformed_authorization_header(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """A header that is not OAuth key="value" pairs is refused, not a server error."""
    garbage = {"Authorization": "OAuth garbage"}
    api = await http.get(bactrack.origin + ME, headers=garbage)
    assert (api.status, await api.text()) == (401, "Malformed OAuth parameters")
    url = f"{bactrack.origin}/oauth/request_token/?format=json"
    token = await http.post(url, headers=garbage)
    assert (token.status, await token.text()) == (400, "Malformed OAuth parameters")


def test_demo_accounts() -> None:
    """`python -m fakes serve` adds Robin, and every newest reading has a place and a note."""
    fake = FakeBACtrack(now=NOW)
    assert fake.accounts[10261].readings[0].latitude is None  # the default the tests use
    fake.add_demo_accounts()
    assert fake.users() == {"10261": "Sam", "10262": "Robin"}
    assert fake.current_user == "10261"
    for user in fake.accounts.values():
        newest = user.readings[0]
        assert newest.bac > 0
        assert newest.latitude is not None
        assert newest.longitude is not None
        assert newest.notes
        assert newest.timestamp > NOW - timedelta(hours=6)
    sam = fake.accounts[10261].readings
    assert sam[0].notes == DEMO_NOTE
    assert (sam[0].latitude, sam[0].longitude) == DEMO_PLACE
    assert sam[4].latitude is None  # the session days before keeps its own (none)


def test_add_record() -> None:
    fake = FakeBACtrack(now=NOW)
    last = fake.accounts[10261].readings[0]
    added = fake.add_record("10261")
    assert "for Sam" in added.description
    newest = fake.accounts[10261].readings[0]
    assert (added.id, added.measured_at, newest.timestamp) == (str(newest.id), NOW, NOW)
    assert newest.id > last.id
    assert newest.bac > 0.02
    assert (newest.latitude, newest.longitude, newest.notes) == (*DEMO_PLACE, "one more")


def test_add_records_stays_a_reading() -> None:
    """Drink after drink in a few minutes, the BAC stops at the most a breathalyzer shows."""
    fake = FakeBACtrack(now=NOW)
    for _ in range(30):
        fake.add_record("10261")
    assert fake.accounts[10261].readings[0].bac == 0.4


async def test_add_record_at_a_time(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """A reading taken when asked is served in UTC without a zone, as BACtrack writes every time."""
    token = await sign_in(http, bactrack)
    taken = (NOW + timedelta(hours=1, seconds=3)).astimezone(timezone(timedelta(hours=-5)))
    bactrack.add_record("10261", taken)
    page = await (await get(http, bactrack, f"{READINGS}&limit=1", token)).json()
    assert page["objects"][0]["timestamp"] == "2026-11-20T13:00:03"  # NOW + 1 h 3 s, in UTC


async def test_faults_for_the_matrix(http: ClientSession, bactrack: FakeBACtrack) -> None:
    """Numbers as strings and long notes on a signed API answer; a dropped token request."""
    token = await sign_in(http, bactrack)
    user = bactrack.accounts[10261]
    user.add_reading(BACReading(user.readings[0].id + 1, NOW, 0.052, notes="after dinner"))
    newest = user.readings[0]
    bactrack.fail(rewrite=numbers_as_strings, times=1)
    page = await (await get(http, bactrack, f"{READINGS}&limit=1", token)).json()
    first = page["objects"][0]
    assert (first["id"], first["bac_level"], page["meta"]["total_count"]) == (
        str(newest.id),
        "0.052",
        "41",
    )
    assert first["is_public"] is False
    bactrack.fail(rewrite=long_texts("notes"), times=1)
    page = await (await get(http, bactrack, f"{READINGS}&limit=1", token)).json()
    assert page["objects"][0]["notes"] == lengthen("after dinner")
    bactrack.fail(drop=True, scope="token")
    with pytest.raises(ServerDisconnectedError):
        await request_token(http, bactrack)
