"""BACtrack end to end: the OAuth 1.0a flow through Home Assistant, the callback view, sensors."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.health_trackers import views
from custom_components.health_trackers.clients.api import REQUEST_TIMEOUT
from custom_components.health_trackers.clients.bactrack import BACtrackClient
from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from custom_components.health_trackers.providers.bactrack import ELIMINATION_RATE
from custom_components.health_trackers.views import OAUTH1_CALLBACK_PATH
from fakes import BACReading, FakeBACtrack
from fakes.bactrack import DEFAULT_CONSUMER

from .conftest import (
    BACTRACK_CONSUMER,
    BACTRACK_USER_ID,
    NOW,
    AddBACtrack,
    Approve,
    ExpectedLog,
    async_poll,
    choose_way,
    decide_at_bactrack,
    flow_message,
    start_bactrack,
    start_reauth,
)

POLL = timedelta(minutes=5)


def state(hass: HomeAssistant, key: str) -> str:
    """The state of the account's sensor ``key``."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"bactrack_{BACTRACK_USER_ID}_{key}"
    )
    assert entity_id is not None, key
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


def expected(fake: FakeBACtrack, now: datetime) -> dict[str, Any]:
    """What the sensors should show, computed from the fake's own readings."""
    readings = fake.accounts[BACTRACK_USER_ID].readings
    latest = readings[0]
    recent = [reading.bac for reading in readings if reading.timestamp >= now - timedelta(hours=24)]
    return {
        "bac": latest.bac,
        "last_reading": latest.timestamp,
        "peak_bac_24h": max(recent) if recent else None,
        "readings_24h": len(recent),
        "sober_at": latest.timestamp + timedelta(hours=latest.bac / ELIMINATION_RATE)
        if latest.bac
        else None,
    }


def assert_sensors_match(hass: HomeAssistant, fake: FakeBACtrack, now: datetime) -> None:
    """Every sensor shows what the fake's readings imply."""
    values = expected(fake, now)
    assert float(state(hass, "bac")) == pytest.approx(values["bac"])
    assert dt_util.parse_datetime(state(hass, "last_reading")) == values["last_reading"]
    if values["peak_bac_24h"] is None:
        assert state(hass, "peak_bac_24h") == STATE_UNKNOWN
    else:
        assert float(state(hass, "peak_bac_24h")) == pytest.approx(values["peak_bac_24h"])
    assert int(state(hass, "readings_24h")) == values["readings_24h"]
    if values["sober_at"] is None:
        assert state(hass, "sober_at") == STATE_UNKNOWN
    else:
        sober_at = dt_util.parse_datetime(state(hass, "sober_at"))
        assert sober_at is not None
        assert abs(sober_at - values["sober_at"]) < timedelta(seconds=1)


# -- the flow -------------------------------------------------------------------------------


async def test_add_account(
    hass: HomeAssistant, bactrack: FakeBACtrack, add_bactrack: AddBACtrack
) -> None:
    """Consumer form, BACtrack's page, callback: a loaded entry with the user's readings."""
    result = await add_bactrack()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == f"bactrack_{BACTRACK_USER_ID}"
    assert entry.title == "Sam"
    assert entry.data["consumer_key"] == DEFAULT_CONSUMER.key
    assert entry.data["access_token"] in bactrack.access_tokens
    assert entry.state is ConfigEntryState.LOADED
    assert_sensors_match(hass, bactrack, NOW)
    assert int(state(hass, "readings_24h")) >= 3  # the fake's newest session is in the window
    # Every request names the JSON format; token requests are signed POSTs in the header.
    assert [
        r.path for r in bactrack.requests if r.method == "POST" and r.path != "/oauth/authorize/"
    ] == [
        "/oauth/request_token/",
        "/oauth/access_token/",
    ]
    for request in bactrack.requests:
        if request.path != "/oauth/authorize/":
            assert request.query.get("format") == "json", request.path
            assert request.headers["Authorization"].startswith("OAuth ")
            assert 'oauth_signature_method="HMAC-SHA1"' in request.headers["Authorization"]


async def test_consumer_form_explains_fields(
    hass: HomeAssistant, bactrack: FakeBACtrack, current_request_with_host: None
) -> None:
    """The form asks for key, secret (hidden) and the manual-code fallback."""
    result = await choose_way(hass, "bactrack")
    assert result["step_id"] == "consumer"
    fields = [str(key) for key in result["data_schema"].schema]  # type: ignore[union-attr]
    assert fields == ["consumer_key", "consumer_secret", "manual_code"]
    translations = json.loads(
        (
            Path(__file__).parent.parent / "custom_components/health_trackers/translations/en.json"
        ).read_text()
    )
    step = translations["config"]["step"]["consumer"]
    assert set(step["data_description"]) == set(fields)
    # Where the key comes from: a link, not "see the README".
    key_help = step["data_description"]["consumer_key"].format(
        **result["description_placeholders"]  # type: ignore[arg-type]
    )
    assert "[README](https://github.com/health-trackers/health_trackers#readme)" in key_help


async def test_callback_url_is_on_the_browser_address(
    hass: HomeAssistant, bactrack: FakeBACtrack, current_request_with_host: None
) -> None:
    """The request token names this integration's callback on the address the user browses."""
    result = await start_bactrack(hass)
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    (pending,) = bactrack.request_tokens.values()
    assert pending.callback == f"https://example.com{OAUTH1_CALLBACK_PATH}"
    url = URL(result["url"])
    assert str(url.with_query(None)) == f"{bactrack.origin}/oauth/authorize/"
    assert url.query["oauth_token"] == pending.token
    assert url.query["oauth_consumer_key"] == DEFAULT_CONSUMER.key


async def test_authorize_link_is_signed(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    browser: ClientSession,
    current_request_with_host: None,
) -> None:
    """The link is signed with the request-token secret, as BACtrack asks; BACtrack checks it."""
    result = await start_bactrack(hass)
    url = URL(result["url"])
    assert (await browser.get(url)).status == 200
    tampered = url.update_query(oauth_signature="AAAA" + url.query["oauth_signature"][4:])
    assert (await browser.get(tampered)).status == 400


async def test_same_account_twice_aborts(
    hass: HomeAssistant, bactrack_entry: ConfigEntry, add_bactrack: AddBACtrack
) -> None:
    """The same BACtrack user cannot be added twice; the sign-in window says it did not work."""
    result = await add_bactrack(page="Signing in did not work.")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_user_denies(
    hass: HomeAssistant, bactrack: FakeBACtrack, add_bactrack: AddBACtrack
) -> None:
    """Deny on BACtrack's page ends the flow; nothing is created."""
    result = await add_bactrack(decision="deny")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "access_denied"
    assert await flow_message(hass, result) == (
        "Access was not granted: Home Assistant was not allowed on the BACtrack page. "
        "Add the account again and select Allow to link it."
    )
    assert not hass.config_entries.async_entries(DOMAIN)
    assert not bactrack.access_tokens


@pytest.mark.parametrize(
    ("consumer", "fault", "error"),
    [
        ({"consumer_secret": "wrong"}, None, "invalid_consumer"),
        ({"consumer_key": "unknown-key"}, None, "invalid_consumer"),
        ({}, {"status": 503, "body": "down", "content_type": "text/plain"}, "cannot_connect"),
        ({}, {"status": 200, "body": "<html>", "content_type": "text/html"}, "cannot_connect"),
    ],
)
async def test_request_token_refused(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    current_request_with_host: None,
    consumer: dict[str, str],
    fault: dict[str, Any] | None,
    error: str,
    expect_log: ExpectedLog,
) -> None:
    """A bad key or secret, or a service that cannot answer: the form again, with why."""
    expect_log("Could not start signing in to BACtrack")
    if fault:
        bactrack.fail(**fault, scope="token", times=1)
    result = await start_bactrack(hass, **consumer)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "consumer"
    assert result["errors"] == {"base": error}
    # The key is kept for the next try; the secret is never echoed back.
    schema = result["data_schema"].schema  # type: ignore[union-attr]
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults["consumer_key"] == (BACTRACK_CONSUMER | consumer)["consumer_key"]
    assert "consumer_secret" not in defaults
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BACTRACK_CONSUMER)
    assert result["type"] is FlowResultType.EXTERNAL_STEP


@pytest.mark.parametrize(
    "consumer", [{"consumer_key": "   "}, {"consumer_secret": ""}, {"consumer_secret": " \t"}]
)
async def test_blank_consumer_is_refused_in_the_form(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    current_request_with_host: None,
    consumer: dict[str, str],
) -> None:
    """A blank key or secret never reaches BACtrack: the form says what is missing."""
    result = await start_bactrack(hass, **consumer)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "missing_consumer"}
    assert not bactrack.requests


async def test_request_token_timeout(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    current_request_with_host: None,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """BACtrack not answering the request-token call: cannot connect, nothing stuck."""
    expect_log("Could not start signing in to BACtrack")
    bactrack.fail(delay=3600, times=1, scope="token")
    flow = hass.async_create_task(start_bactrack(hass))
    while not bactrack.held:  # noqa: ASYNC110 - the request travels over real sockets
        await asyncio.sleep(0)
    frozen_now.tick(REQUEST_TIMEOUT + 1)
    result = await flow
    assert result["errors"] == {"base": "cannot_connect"}


async def test_callback_with_unknown_or_used_token(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    current_request_with_host: None,
) -> None:
    """Unknown and replayed tokens get a 400 page and touch no flow."""
    result = await start_bactrack(hass)
    client = await hass_client_no_auth()
    unknown = await client.get(f"{OAUTH1_CALLBACK_PATH}?oauth_token=forged&oauth_verifier=x")
    assert unknown.status == 400
    assert "cannot be used" in await unknown.text()
    assert hass.config_entries.flow.async_get(result["flow_id"])["step_id"] == "oauth1_authorize"

    redirect = await decide_at_bactrack(browser, result["url"], "allow")
    location = URL(redirect.headers["Location"])
    assert (await client.get(location.path_qs)).status == 200
    replay = await client.get(location.path_qs)
    assert replay.status == 400
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


@pytest.mark.parametrize("posted", [{}, BACTRACK_CONSUMER, {"oauth_token": "x"}])
async def test_posts_while_waiting_show_the_same_link(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    approve: Approve,
    current_request_with_host: None,
    posted: dict[str, Any],
) -> None:
    """A form submitted again, or an empty post, at the external step: the same link, no error."""
    result = await start_bactrack(hass)
    tokens = set(bactrack.request_tokens)
    again = await hass.config_entries.flow.async_configure(result["flow_id"], posted)
    assert again["type"] is FlowResultType.EXTERNAL_STEP
    # The same request token (the link is signed afresh each time it is shown).
    assert URL(again["url"]).query["oauth_token"] == URL(result["url"]).query["oauth_token"]
    assert set(bactrack.request_tokens) == tokens
    result = await approve(again)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_one_flow_one_request_token(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    current_request_with_host: None,
) -> None:
    """Two submissions at once: only the newest link signs in; the other's window says so."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    flow_id = result["flow_id"]
    await hass.config_entries.flow.async_configure(flow_id, {"next_step_id": "bactrack"})
    first, second = await asyncio.gather(
        hass.config_entries.flow.async_configure(flow_id, BACTRACK_CONSUMER),
        hass.config_entries.flow.async_configure(flow_id, BACTRACK_CONSUMER),
    )
    assert first["url"] != second["url"]
    client = await hass_client_no_auth()
    for result in (first, second):
        redirect = await decide_at_bactrack(browser, result["url"], "allow")
        page = await client.get(URL(redirect.headers["Location"]).path_qs)
        if page.status == 200:
            assert "Signed in." in await page.text()
            signed_in = result
        else:
            assert page.status == 400
            assert "cannot be used" in await page.text()
    assert signed_in  # exactly one of the two links was accepted
    result = await hass.config_entries.flow.async_configure(flow_id)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_no_address_for_the_callback(
    hass: HomeAssistant, bactrack: FakeBACtrack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started without a browser request and no configured URL: say so instead of guessing."""

    def no_url(*args: Any, **kwargs: Any) -> str:
        raise NoURLAvailableError

    monkeypatch.setattr(views, "get_url", no_url)
    result = await start_bactrack(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_url_available"
    assert "https://www.home-assistant.io/more-info/no-url-available" in await flow_message(
        hass, result
    )
    assert not bactrack.request_tokens


async def test_callback_after_the_token_expired(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    current_request_with_host: None,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A browser coming back after ten minutes resumes nothing."""
    result = await start_bactrack(hass)
    redirect = await decide_at_bactrack(browser, result["url"], "allow")
    frozen_now.tick(timedelta(minutes=11))
    client = await hass_client_no_auth()
    response = await client.get(URL(redirect.headers["Location"]).path_qs)
    assert response.status == 400
    assert hass.config_entries.flow.async_get(result["flow_id"])["step_id"] == "oauth1_authorize"


async def test_callback_after_the_flow_was_closed(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    current_request_with_host: None,
) -> None:
    """The user closed the dialog: the later callback is refused and creates nothing."""
    result = await start_bactrack(hass)
    redirect = await decide_at_bactrack(browser, result["url"], "allow")
    hass.config_entries.flow.async_abort(result["flow_id"])
    client = await hass_client_no_auth()
    response = await client.get(URL(redirect.headers["Location"]).path_qs)
    assert response.status == 400
    assert not hass.config_entries.async_entries(DOMAIN)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"status": 401, "body": "Invalid verifier", "content_type": "text/plain"}, "invalid_auth"),
        ({"status": 500, "body": "", "content_type": "text/plain"}, "cannot_connect"),
    ],
)
async def test_access_token_refused(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    approve: Approve,
    current_request_with_host: None,
    fault: dict[str, Any],
    reason: str,
    expect_log: ExpectedLog,
) -> None:
    """The exchange after the callback fails: a clear abort, nothing created."""
    expect_log("Could not finish signing in to BACtrack")
    result = await start_bactrack(hass)
    bactrack.fail(**fault, scope="token", path="/oauth/access_token/", times=1)
    result = await approve(result, page="Signing in did not work.")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_profile_unreadable_aborts(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    approve: Approve,
    current_request_with_host: None,
    expect_log: ExpectedLog,
) -> None:
    """Tokens came, but who the user is cannot be read: abort rather than guess."""
    expect_log("Could not identify the BACtrack account")
    result = await start_bactrack(hass)
    bactrack.fail(200, '{"username": "sam"}', path="/internal_v1/users/me/")
    result = await approve(result, page="Signing in did not work.")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


# -- the manual code (oob) ------------------------------------------------------------------


async def _verifier_from_page(browser: ClientSession, authorize_url: str) -> str:
    response = await decide_at_bactrack(browser, authorize_url, "allow")
    assert response.status == 200
    page = await response.text()
    return page.split('<code id="verifier">')[1].split("</code>")[0]


async def test_manual_code(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    browser: ClientSession,
    current_request_with_host: None,
    expect_log: ExpectedLog,
) -> None:
    """Asked for: oob, BACtrack shows a code, the user pastes it (a typo first)."""
    expect_log("Could not finish signing in to BACtrack")
    result = await start_bactrack(hass, manual_code=True)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "oauth1_verifier"
    authorize_url = result["description_placeholders"]["authorize_url"]  # type: ignore[index]
    (pending,) = bactrack.request_tokens.values()
    assert pending.callback == "oob"
    verifier = await _verifier_from_page(browser, authorize_url)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"verifier": "not-the-code"}
    )
    assert result["errors"] == {"base": "invalid_verifier"}
    bactrack.fail(503, "", scope="token", times=1)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"verifier": verifier}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"verifier": f" {verifier} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"]["manual_code"] is True
    await hass.async_block_till_done()
    assert_sensors_match(hass, bactrack, NOW)


async def test_unconfirmed_callback_falls_back_to_manual_code(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    browser: ClientSession,
    current_request_with_host: None,
) -> None:
    """A provider that does not confirm the callback: ask again with oob, show the code form."""
    bactrack.confirm_callback = False
    result = await start_bactrack(hass)
    assert result["step_id"] == "oauth1_verifier"
    starts = [r for r in bactrack.requests if r.path == "/oauth/request_token/"]
    assert len(starts) == 2
    assert 'oauth_callback="oob"' in starts[1].headers["Authorization"]
    verifier = await _verifier_from_page(
        browser,
        result["description_placeholders"]["authorize_url"],  # type: ignore[index]
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"verifier": verifier}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_token_answers_as_json_are_read(
    hass: HomeAssistant, bactrack: FakeBACtrack, add_bactrack: AddBACtrack
) -> None:
    """Token endpoints answering JSON instead of a form body work the same."""
    bactrack.token_format = "json"
    result = await add_bactrack()
    assert result["type"] is FlowResultType.CREATE_ENTRY


# -- reauth and reconfigure -----------------------------------------------------------------


async def test_revoked_access_reauths_and_keeps_the_entry(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    approve: Approve,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """401 on data → reauth with the stored consumer → the same entry, new token, values back."""
    expect_log("Authentication failed while fetching Sam data")
    old_token = bactrack_entry.data["access_token"]
    bactrack.revoke()
    await async_poll(hass, frozen_now, POLL)
    assert state(hass, "bac") == STATE_UNAVAILABLE
    result = await start_reauth(hass, bactrack_entry)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await approve(result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert bactrack_entry.data["access_token"] != old_token
    assert bactrack_entry.state is ConfigEntryState.LOADED
    assert hass.config_entries.async_entries(DOMAIN) == [bactrack_entry]
    assert_sensors_match(hass, bactrack, NOW + POLL)


async def test_reauth_with_a_withdrawn_key_asks_for_one(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    approve: Approve,
) -> None:
    """The stored consumer key is refused: the consumer form, then the dance."""
    bactrack.consumers.clear()
    result = await start_reauth(hass, bactrack_entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "consumer"
    assert result["errors"] == {"base": "invalid_consumer"}
    bactrack.register_consumer(DEFAULT_CONSUMER)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], BACTRACK_CONSUMER)
    result = await approve(result)
    assert result["reason"] == "reauth_successful"


async def test_reauth_as_another_user_is_refused(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    approve: Approve,
) -> None:
    """Signing in as someone else during reauth leaves the entry alone."""
    from fakes import BACtrackUser  # noqa: PLC0415

    other = bactrack.add_user(BACtrackUser.generate(777, "alex", "Alex", seed=3, count=5, now=NOW))
    bactrack.current_user = str(other.id)
    token = bactrack_entry.data["access_token"]
    result = await start_reauth(hass, bactrack_entry)
    result = await approve(
        await hass.config_entries.flow.async_configure(result["flow_id"], {}),
        page="Signing in did not work.",
    )
    assert result["reason"] == "wrong_account"
    assert bactrack_entry.data["access_token"] == token


async def test_reconfigure_with_a_new_key(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    approve: Approve,
) -> None:
    """Reconfigure shows the consumer form with the key filled in, then signs in again."""
    from fakes import OAuth1Consumer  # noqa: PLC0415

    new = bactrack.register_consumer(OAuth1Consumer("second-key", "second-secret"))
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": bactrack_entry.entry_id}
    )
    assert result["step_id"] == "consumer"
    schema = result["data_schema"].schema  # type: ignore[union-attr]
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults["consumer_key"] == DEFAULT_CONSUMER.key
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"consumer_key": new.key, "consumer_secret": new.secret}
    )
    result = await approve(result)
    assert result["reason"] == "reconfigured_consumer"
    assert await flow_message(hass, result) == (
        "The account is signed in again with the consumer key you entered."
    )
    assert bactrack_entry.data["consumer_key"] == "second-key"


# -- polling --------------------------------------------------------------------------------


def _readings_requests(fake: FakeBACtrack) -> list[dict[str, str]]:
    return [request.query for request in fake.requests if request.path == "/v1/readings/"]


async def test_first_poll_reads_the_last_day_only(
    hass: HomeAssistant, bactrack: FakeBACtrack, bactrack_entry: ConfigEntry
) -> None:
    """The first poll pages back only until a reading older than 24 hours."""
    requests = _readings_requests(bactrack)
    assert requests[0] == {"format": "json", "person": "me", "limit": "10", "offset": "0"}
    assert len(requests) == 1  # the fake's last day fits in one page
    assert len(bactrack.accounts[BACTRACK_USER_ID].readings) > 10


async def test_24_hour_figures_age_without_requests(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Nothing new: one request per poll; the 24-hour figures still age on time."""
    before = len(bactrack.requests)
    for _ in range(3):
        await async_poll(hass, frozen_now, timedelta(hours=8))
    assert len(bactrack.requests) == before + 3
    now = NOW + timedelta(hours=24)
    assert_sensors_match(hass, bactrack, now)
    assert state(hass, "readings_24h") == "0"
    assert state(hass, "peak_bac_24h") == STATE_UNKNOWN


@pytest.mark.parametrize(
    ("new", "pages"),
    [
        (12, [("10", "0"), ("1000", "10")]),
        (1_500, [("10", "0"), ("1000", "10"), ("1000", "1010")]),
    ],
)
async def test_new_readings_are_read_incrementally(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    frozen_now: FrozenDateTimeFactory,
    new: int,
    pages: list[tuple[str, str]],
) -> None:
    """A small first request, then pages of the largest size only to the known reading.

    ``new`` readings cost 1 + ceil((new + 1 - 10) / 1000) requests: the known one is read too.
    """
    user = bactrack.accounts[BACTRACK_USER_ID]
    newest_id = user.readings[0].id
    now = NOW
    for step in range(new):
        now += timedelta(seconds=10)
        user.add_reading(BACReading(newest_id + 1 + step, now, 0.08 + step % 20 / 1000))
    frozen_now.move_to(now)
    before = len(_readings_requests(bactrack))
    await async_poll(hass, frozen_now, POLL)
    requests = _readings_requests(bactrack)[before:]
    assert [(request["limit"], request["offset"]) for request in requests] == pages
    assert_sensors_match(hass, bactrack, now + POLL)
    assert float(state(hass, "bac")) == pytest.approx(user.readings[0].bac)


async def test_deleted_newest_reading_disappears(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A reading deleted at BACtrack leaves the sensors at the next poll."""
    user = bactrack.accounts[BACTRACK_USER_ID]
    user.readings.pop(0)
    await async_poll(hass, frozen_now, POLL)
    assert_sensors_match(hass, bactrack, NOW + POLL)


async def test_reading_stops_after_twenty_pages(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An implausibly busy day: at most 20 pages per poll, the newest readings shown.

    (Pages of 10, so that 20 of them are a few hundred readings rather than 19,010.)
    """
    monkeypatch.setattr(BACtrackClient, "page_size", 10)
    user = bactrack.accounts[BACTRACK_USER_ID]
    first_id = user.readings[0].id + 1
    for index in range(250):
        user.add_reading(BACReading(first_id + index, NOW - timedelta(minutes=250 - index), 0.01))
    await add_bactrack()
    assert len(_readings_requests(bactrack)) == 20
    assert state(hass, "readings_24h") == "200"
    assert dt_util.parse_datetime(state(hass, "last_reading")) == NOW - timedelta(minutes=1)


async def test_zero_bac_has_no_sober_time(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A 0.000 reading: BAC 0 and the estimate unknown."""
    user = bactrack.accounts[BACTRACK_USER_ID]
    user.add_reading(BACReading(user.readings[0].id + 1, NOW + timedelta(minutes=1), 0.0))
    await async_poll(hass, frozen_now, POLL)
    assert float(state(hass, "bac")) == 0
    assert state(hass, "sober_at") == STATE_UNKNOWN


async def test_account_without_readings(
    hass: HomeAssistant, bactrack: FakeBACtrack, add_bactrack: AddBACtrack
) -> None:
    """A new BACtrack user: unknown values, zero readings, no errors."""
    bactrack.accounts[BACTRACK_USER_ID].readings.clear()
    await add_bactrack()
    assert state(hass, "bac") == STATE_UNKNOWN
    assert state(hass, "readings_24h") == "0"


async def test_tolerant_parsing(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Strings for numbers, offsets, broken items: read what can be read, skip the rest."""
    readings = bactrack.accounts[BACTRACK_USER_ID].readings
    newest = readings[0]
    # One reading is new (id 4): the count says so, so the page is taken as the listing's top.
    count = len(readings) + 1
    page = {
        "meta": {"limit": 10, "next": None, "offset": 0, "previous": None, "total_count": count},
        "objects": [
            {"id": 1, "timestamp": "2026-11-20T12:03:00", "bac_level": "lots"},
            {"id": 2, "timestamp": "yesterday", "bac_level": 0.1},
            {"id": 3, "timestamp": "2026-11-20T12:02:00", "bac_level": 7.5},
            "not an object",
            {"id": "4", "timestamp": "2026-11-20T07:01:30-05:00", "bac_level": "0.064"},
            {"id": newest.id, "timestamp": "2026-11-20T09:00:00", "bac_level": newest.bac},
        ],
    }
    bactrack.fail(200, json.dumps(page), path="/v1/readings/", times=1)
    await async_poll(hass, frozen_now, POLL)
    assert float(state(hass, "bac")) == pytest.approx(0.064)
    assert state(hass, "last_reading") == "2026-11-20T12:01:30+00:00"


# The fault matrix (test_fault_matrix.py) holds the faults it switches on; these it does not.
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"status": 502, "body": "<html>", "content_type": "text/html"}, "unavailable"),
        ({"status": 200, "body": "Bad Request", "content_type": "text/plain"}, "could not read"),
        (
            {"status": 200, "body": '{"meta": {"next": "http://[oops"}, "objects": []}'},
            "link that is not a URL",
        ),
    ],
)
async def test_failures_make_entities_unavailable_and_recover(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
    frozen_now: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, Any],
    message: str,
    expect_log: ExpectedLog,
) -> None:
    """Each failure: unavailable, logged once while down and once when back; no reauth."""
    expect_log("Error fetching Sam data")
    bactrack.fail(**fault)
    caplog.set_level(logging.INFO)
    for _ in range(3):
        await async_poll(hass, frozen_now, POLL)
        assert state(hass, "bac") == STATE_UNAVAILABLE
    errors = [r for r in caplog.records if "Error fetching Sam data" in r.getMessage()]
    assert len(errors) == 1
    assert message in errors[0].getMessage()
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    bactrack.clear_faults()
    await async_poll(hass, frozen_now, POLL)
    assert_sensors_match(hass, bactrack, NOW + 4 * POLL)


# -- options, privacy -----------------------------------------------------------------------


async def _set_options(hass: HomeAssistant, entry: ConfigEntry, **options: Any) -> None:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    fields = [str(key) for key in result["data_schema"].schema]  # type: ignore[union-attr]
    assert fields == ["personal_data"]
    assert result["description_placeholders"] == {"account": entry.title}  # "Sam options"
    result = await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_personal_sensors_only_when_asked(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    bactrack_entry: ConfigEntry,
) -> None:
    """Location and notes: absent by default, present once opted in, gone after opting out."""
    registry = er.async_get(hass)
    personal = {f"bactrack_{BACTRACK_USER_ID}_location", f"bactrack_{BACTRACK_USER_ID}_notes"}

    def unique_ids() -> set[str]:
        return {
            item.unique_id
            for item in er.async_entries_for_config_entry(registry, bactrack_entry.entry_id)
        }

    assert not personal & unique_ids()
    user = bactrack.accounts[BACTRACK_USER_ID]
    user.add_reading(
        BACReading(user.readings[0].id + 1, NOW, 0.05, 42.3587, -71.0965, "after dinner")
    )
    await _set_options(hass, bactrack_entry, personal_data=True)
    assert personal <= unique_ids()
    assert state(hass, "location") == "42.35870, -71.09650"
    assert state(hass, "notes") == "after dinner"
    diagnostics = json.dumps(await async_get_config_entry_diagnostics(hass, bactrack_entry))
    for private in ("42.3587", "71.0965", "after dinner"):
        assert private not in diagnostics
    await _set_options(hass, bactrack_entry, personal_data=False)
    assert not personal & unique_ids()


async def test_saving_unchanged_options_does_not_reload(
    hass: HomeAssistant, bactrack: FakeBACtrack, bactrack_entry: ConfigEntry
) -> None:
    """Options saved as they were leave the entry running: no reload, no new requests."""
    await _set_options(hass, bactrack_entry, personal_data=False)
    coordinator = bactrack_entry.runtime_data
    bactrack.requests.clear()
    await _set_options(hass, bactrack_entry, personal_data=False)
    assert bactrack_entry.runtime_data is coordinator
    assert not bactrack.requests


async def test_services_without_personal_sensors_have_no_options(entry: ConfigEntry) -> None:
    """Polling follows each service, so only BACtrack's personal-data switch is an option."""
    assert not entry.supports_options


async def test_callback_for_a_flow_closed_while_signing_in(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
    current_request_with_host: None,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """The dialog is closed while the verifier is being traded: the window says it cannot be used."""
    result = await start_bactrack(hass)
    redirect = await decide_at_bactrack(browser, result["url"], "allow")
    bactrack.fail(delay=5, scope="token", path="/oauth/access_token/", times=1)
    client = await hass_client_no_auth()
    callback = hass.async_create_task(client.get(URL(redirect.headers["Location"]).path_qs))
    while not bactrack.held:  # noqa: ASYNC110 - the request travels over real sockets
        await asyncio.sleep(0)
    hass.config_entries.flow.async_abort(result["flow_id"])
    frozen_now.tick(6)
    page = await callback
    assert page.status == 400
    assert "cannot be used" in await page.text()
    assert not hass.config_entries.async_entries(DOMAIN)
