"""Boditrax sign-in through our own authorize and callback views, with and without ``state``.

A browser with a cookie jar follows the external step's URL to our authorize view on Home
Assistant's test server, on to the fake's consent page and back to our callback, as a user's does.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from http.cookies import SimpleCookie
import logging
from typing import Any
from unittest.mock import MagicMock
from urllib.parse import parse_qsl

from aiohttp import ClientResponse, ClientSession, CookieJar
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.config_entry_oauth2_flow import HEADER_FRONTEND_BASE
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.setup import async_setup_component
from multidict import CIMultiDict
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.health_trackers import views
from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.views import (
    DATA_SIGN_INS,
    OAUTH2_AUTHORIZE_PATH,
    OAUTH2_CALLBACK_PATH,
    OAUTH2_COOKIE,
    OAUTH2_PREFIX,
)
from fakes import FakeBoditrax
from fakes.boditrax import DEFAULT_CLIENT

from .conftest import choose_way, start_reauth

WEIGHT = "sensor.jo_lifter_weight"


@pytest.fixture
async def credential(hass: HomeAssistant) -> None:
    """The Boditrax app's credential."""
    assert await async_setup_component(hass, "application_credentials", {})
    await async_import_client_credential(
        hass,
        DOMAIN,
        ClientCredential(DEFAULT_CLIENT.client_id, DEFAULT_CLIENT.client_secret, "Boditrax"),
        "bx",
    )


def _frontend_base(current_request: MagicMock, base: str) -> None:
    """The browser's request that starts the flow comes from ``base``."""
    request = current_request.get.return_value
    headers = CIMultiDict(request.headers)
    headers[HEADER_FRONTEND_BASE] = base
    current_request.get.return_value = request.clone(headers=headers)


@pytest.fixture
async def home(
    hass: HomeAssistant,
    credential: None,
    hass_client_no_auth: ClientSessionGenerator,
    current_request: MagicMock,
) -> str:
    """Home Assistant's test server, and the address the user's browser knows it by."""
    client = await hass_client_no_auth()
    base = str(client.make_url("/")).rstrip("/")
    _frontend_base(current_request, base)
    return base


async def _window() -> ClientSession:
    """A browser window: it keeps cookies, also for 127.0.0.1."""
    return ClientSession(cookie_jar=CookieJar(unsafe=True))


@pytest.fixture
async def window(socket_enabled: None) -> AsyncGenerator[ClientSession]:
    """The user's browser."""
    async with await _window() as session:
        yield session


async def _start(hass: HomeAssistant) -> ConfigFlowResult:
    result = await choose_way(hass, "boditrax")
    assert result["type"] is FlowResultType.EXTERNAL_STEP, result
    return result


async def _consent(window: ClientSession, url: str, decision: str = "allow") -> URL:
    """Open the external step's URL, decide on the service's page; where it sends the browser."""
    page = await window.get(url)
    assert page.status == 200, await page.text()
    consent_url = page.url
    assert consent_url.path == "/oauth/auth"
    redirect = await window.post(
        consent_url.with_query(None),
        data=dict(consent_url.query) | {"decision": decision},
        allow_redirects=False,
    )
    assert redirect.status == 302
    return URL(redirect.headers["Location"])


async def _refused(response: ClientResponse) -> None:
    assert response.status == 400
    assert "cannot be used" in await response.text()
    assert response.headers["Cache-Control"] == "no-store"


def _step(hass: HomeAssistant, flow_id: str) -> str:
    return str(hass.config_entries.flow.async_get(flow_id)["step_id"])


@pytest.mark.parametrize("echo_state", [True, False])
async def test_add_member(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    home: str,
    window: ClientSession,
    echo_state: bool,
) -> None:
    """Echoed or dropped state: the member becomes a loaded entry with its sensors."""
    boditrax.echo_state = echo_state
    result = await _start(hass)
    assert result["url"].startswith(f"{home}{OAUTH2_AUTHORIZE_PATH}?ticket=")
    location = await _consent(window, result["url"])
    assert str(location).startswith(f"{home}{OAUTH2_CALLBACK_PATH}?code=")
    assert ("state" in location.query) is echo_state
    callback = await window.get(location)
    assert callback.status == 200
    text = await callback.text()
    assert "window.close()" in text
    assert "Signed in" not in text  # the code is traded for tokens only after this page
    assert callback.headers["Cache-Control"] == "no-store"
    assert not window.cookie_jar.filter_cookies(URL(home + OAUTH2_CALLBACK_PATH))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    assert float(hass.states.get(WEIGHT).state) == pytest.approx(  # type: ignore[union-attr]
        boditrax.members["m_123"].readings[0].measurements["BodyWeight"]
    )
    # The code is redeemed for the redirect_uri it was issued for: our callback.
    (authorize,) = [r for r in boditrax.requests if r.path == "/oauth/auth" and r.method == "GET"]
    assert authorize.query["redirect_uri"] == home + OAUTH2_CALLBACK_PATH
    (token,) = [r for r in boditrax.requests if r.path == "/oauth/token"]
    assert dict(parse_qsl(token.body.decode()))["redirect_uri"] == home + OAUTH2_CALLBACK_PATH


async def test_reauth_without_state(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """Signing the member in again works with a service that drops state."""
    boditrax.echo_state = False
    result = await _start(hass)
    await window.get(await _consent(window, result["url"]))
    entry = (await hass.config_entries.flow.async_configure(result["flow_id"]))["result"]
    await hass.async_block_till_done()
    result = await start_reauth(hass, entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    callback = await window.get(await _consent(window, result["url"]))
    assert callback.status == 200
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_echoed_state_needs_no_cookie(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """A browser that kept no cookie still comes back: the echoed state alone names the flow."""
    result = await _start(hass)
    location = await _consent(window, result["url"])
    async with await _window() as cookieless:
        assert (await cookieless.get(location)).status == 200
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_no_state_needs_the_cookie(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """Without state, a browser without the cookie (a pushed code: login CSRF) resumes nothing.

    The browser that started the sign-in still can, once.
    """
    boditrax.echo_state = False
    result = await _start(hass)
    location = await _consent(window, result["url"])
    async with await _window() as other:
        await _refused(await other.get(location))
    assert _step(hass, result["flow_id"]) == "auth"
    assert (await window.get(location)).status == 200
    await _refused(await window.get(location))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_wrong_and_replayed_state(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """A state we did not issue is refused; so is one used before."""
    result = await _start(hass)
    location = await _consent(window, result["url"])
    async with await _window() as cookieless:
        await _refused(await cookieless.get(location.update_query(state="forged")))
        assert _step(hass, result["flow_id"]) == "auth"
        assert (await cookieless.get(location)).status == 200
        await _refused(await cookieless.get(location))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_forged_state_with_the_cookie(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """A forged state does not fall back to the cookie; it spends it instead, and clears it."""
    boditrax.echo_state = False
    result = await _start(hass)
    location = await _consent(window, result["url"])
    (cookie,) = window.cookie_jar.filter_cookies(location).values()
    await _refused(await window.get(location.update_query(state="forged")))
    assert not window.cookie_jar.filter_cookies(location)
    async with await _window() as other:
        await _refused(await other.get(location, cookies={OAUTH2_COOKIE: cookie.value}))
    assert _step(hass, result["flow_id"]) == "auth"


async def test_cookie_of_another_flow(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """One flow's state with another flow's cookie resumes neither."""
    first = await _start(hass)
    location = await _consent(window, first["url"])
    second = await _start(hass)
    await _consent(window, second["url"])  # the cookie is now the second flow's
    await _refused(await window.get(location))
    # The attempt spent the first flow's state too.
    async with await _window() as cookieless:
        await _refused(await cookieless.get(location))
    assert _step(hass, first["flow_id"]) == "auth"
    assert _step(hass, second["flow_id"]) == "auth"


async def test_ticket_is_single_use(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """The external step's link works once; an unknown ticket not at all."""
    result = await _start(hass)
    assert (await window.get(result["url"], allow_redirects=False)).status == 302
    await _refused(await window.get(result["url"], allow_redirects=False))
    await _refused(await window.get(f"{home}{OAUTH2_AUTHORIZE_PATH}?ticket=forged"))
    await _refused(await window.get(f"{home}{OAUTH2_AUTHORIZE_PATH}"))
    assert _step(hass, result["flow_id"]) == "auth"


async def test_ticket_expires(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    home: str,
    window: ClientSession,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A link opened after ten minutes sends nobody to the service."""
    result = await _start(hass)
    frozen_now.tick(timedelta(minutes=11))
    await _refused(await window.get(result["url"]))
    assert not boditrax.count("/oauth/auth")


async def test_callback_after_ten_minutes(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    home: str,
    window: ClientSession,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """State and cookie last ten minutes, like the ticket."""
    result = await _start(hass)
    location = await _consent(window, result["url"])
    frozen_now.tick(timedelta(minutes=11))
    await _refused(await window.get(location))
    assert _step(hass, result["flow_id"]) == "auth"


async def test_ten_minutes_again_from_opening_the_link(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    home: str,
    window: ClientSession,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A link opened late in its ten minutes leaves the user ten minutes to sign in."""
    result = await _start(hass)
    frozen_now.tick(timedelta(minutes=8))
    location = await _consent(window, result["url"])
    frozen_now.tick(timedelta(minutes=8))
    assert (await window.get(location)).status == 200
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_expired_sign_ins_are_dropped(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    home: str,
    window: ClientSession,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Issuing a ticket forgets the tickets, states and cookies that expired."""
    unopened = await _start(hass)
    opened = await _start(hass)
    await _consent(window, opened["url"])
    frozen_now.tick(timedelta(minutes=11))
    fresh = await _start(hass)
    sign_ins = hass.data[DATA_SIGN_INS]
    assert [item.flow_id for item in sign_ins.tickets.values()] == [fresh["flow_id"]]
    assert not sign_ins.states
    assert not sign_ins.cookies
    await _refused(await window.get(unopened["url"]))


async def test_deny(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """Deny on the service's page: its error reaches the flow, which creates nothing."""
    boditrax.echo_state = False
    result = await _start(hass)
    location = await _consent(window, result["url"], "deny")
    assert location.query["error"] == "access_denied"
    page = await window.get(location)
    assert page.status == 200
    assert "Access was not granted." in await page.text()
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "access_denied"
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_callback_without_code_or_error(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """A callback that brings neither a code nor an error is refused and spends the state."""
    result = await _start(hass)
    location = await _consent(window, result["url"])
    await _refused(await window.get(location.without_query_params("code")))
    await _refused(await window.get(location))
    assert _step(hass, result["flow_id"]) == "auth"


def _cookie(response: ClientResponse) -> Any:
    (header,) = response.headers.getall("Set-Cookie")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    return cookie[OAUTH2_COOKIE]


async def test_authorize_view_sets_the_cookie_and_state(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """HttpOnly, SameSite=Lax, only for our views, ten minutes; our state goes to the service."""
    result = await _start(hass)
    response = await window.get(result["url"], allow_redirects=False)
    assert response.status == 302
    assert response.headers["Cache-Control"] == "no-store"
    cookie = _cookie(response)
    assert len(cookie.value) >= 40
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == OAUTH2_PREFIX
    assert cookie["max-age"] == "600"
    assert not cookie["secure"]  # plain http: a Secure cookie would not come back
    service = URL(response.headers["Location"])
    assert str(service.with_query(None)) == f"{boditrax.origin}/oauth/auth"
    assert dict(service.query) == {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT.client_id,
        "redirect_uri": f"{home}{OAUTH2_CALLBACK_PATH}",
        "scope": "measurement_analysis front_end",
        "state": service.query["state"],
    }
    assert len(service.query["state"]) >= 40
    assert service.query["state"] != cookie.value
    assert cookie.value not in result["url"]


async def test_cookie_is_secure_over_https(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    credential: None,
    hass_client_no_auth: ClientSessionGenerator,
    current_request_with_host: None,
) -> None:
    """A browser that reaches Home Assistant over https gets a Secure cookie."""
    client = await hass_client_no_auth()
    result = await _start(hass)
    url = URL(result["url"])
    assert str(url).startswith(f"https://example.com{OAUTH2_AUTHORIZE_PATH}?ticket=")
    response = await client.get(url.path_qs, allow_redirects=False)
    assert response.status == 302
    assert _cookie(response)["secure"] is True
    service = URL(response.headers["Location"])
    assert service.query["redirect_uri"] == f"https://example.com{OAUTH2_CALLBACK_PATH}"


async def test_flow_closed_before_the_callback(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """The user closed the dialog: the later callback is refused and creates nothing."""
    result = await _start(hass)
    location = await _consent(window, result["url"])
    hass.config_entries.flow.async_abort(result["flow_id"])
    await _refused(await window.get(location))
    assert not hass.config_entries.async_entries(DOMAIN)
    assert not boditrax.count("/oauth/token")


async def test_flow_closed_before_the_link_is_opened(
    hass: HomeAssistant, boditrax: FakeBoditrax, home: str, window: ClientSession
) -> None:
    """A link of a flow that ended sends nobody to the service."""
    result = await _start(hass)
    hass.config_entries.flow.async_abort(result["flow_id"])
    await _refused(await window.get(result["url"]))
    assert not boditrax.count("/oauth/auth")


async def test_address_without_a_browser_request(
    hass: HomeAssistant, boditrax: FakeBoditrax, credential: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No browser request: Home Assistant's configured address; none at all: the flow says so."""
    monkeypatch.setattr(views, "get_url", lambda *args, **kwargs: "http://ha.local:8123")
    result = await _start(hass)
    assert result["url"].startswith(f"http://ha.local:8123{OAUTH2_AUTHORIZE_PATH}?ticket=")

    def no_url(*args: Any, **kwargs: Any) -> str:
        raise NoURLAvailableError

    monkeypatch.setattr(views, "get_url", no_url)
    result = await choose_way(hass, "boditrax")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_url_available"


async def test_no_secret_in_the_log(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    home: str,
    window: ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither ticket, state, cookie nor code reach the log, refused or not."""
    caplog.set_level(logging.DEBUG)
    result = await _start(hass)
    opened = await window.get(result["url"], allow_redirects=False)
    secrets = [URL(result["url"]).query["ticket"], _cookie(opened).value]
    location = await _consent(window, opened.headers["Location"])
    secrets += [location.query["state"], location.query["code"]]
    await _refused(await window.get(location.update_query(state="forged")))
    await _refused(await window.get(result["url"]))
    assert (await window.get(location)).status == 200
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name != "aiohttp.access"
    )
    assert "Sign-in link refused" in logged
    for secret in secrets:
        assert secret not in logged
