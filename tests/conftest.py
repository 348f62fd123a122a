"""Fixtures: the fake services on 127.0.0.1, stored credentials, and a user's way through the flow."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
import contextlib
from datetime import UTC, datetime, timedelta
import logging
import re
import socket
import traceback
from typing import Any
from unittest.mock import patch

from aiohttp import ClientSession, TCPConnector
from aiohttp.abc import ResolveResult
from aiohttp.resolver import AsyncResolver
import freezegun
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntry, ConfigFlowResult
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.providers import PROVIDERS
from custom_components.health_trackers.views import OAUTH1_CALLBACK_PATH
from fakes import FakeBACtrack, FakeBoditrax, FakeService, FakeSportTracks
from fakes.bactrack import DEFAULT_CONSUMER
from fakes.boditrax import DEFAULT_CLIENT as BODITRAX_CLIENT
from fakes.sporttracks import DEFAULT_CLIENT

from .matrix_report import MatrixReport

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SPORTTRACKS_CREDENTIAL = "sporttracks_credential"
BODITRAX_CREDENTIAL = "bx"
BACTRACK_USER_ID = 10261
"""The fake BACtrack's account (sam)."""
BACTRACK_CONSUMER = {
    "consumer_key": DEFAULT_CONSUMER.key,
    "consumer_secret": DEFAULT_CONSUMER.secret,
}


def pytest_configure(config: pytest.Config) -> None:
    """Print the fault matrix at the end of the run; keep the recorder's chatter off the console.

    The test plugin logs everything from INFO up to stderr (``logging.basicConfig``); the
    recorder's thread writes SQL there between tests, where no capture hides it. Tests read logs
    through ``caplog``, which this leaves alone.
    """
    config.pluginmanager.register(MatrixReport(), "health-trackers-fault-matrix")
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Load the integration from custom_components/, in tests that run Home Assistant.

    Tests of the fakes and of the HA-free clients start no Home Assistant at all (asking for
    ``enable_custom_integrations`` always would start one for each of them).
    """
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


class ExpectedLog:
    """Warnings and errors a test provokes on purpose, each named by a regular expression."""

    def __init__(self) -> None:
        self.patterns: list[re.Pattern[str]] = []

    def __call__(self, pattern: str) -> None:
        """Allow WARNING/ERROR lines about the integration that match ``pattern``."""
        self.patterns.append(re.compile(pattern))

    def allows(self, record: logging.LogRecord) -> bool:
        return any(pattern.search(record.getMessage()) for pattern in self.patterns)


NOT_TESTED_NOTICE = "We found a custom integration health_trackers which has not been tested"


def _about_us(record: logging.LogRecord) -> bool:
    """A record Home Assistant logs about this integration: ours, naming us, or through our code."""
    if record.name.startswith("custom_components.health_trackers"):
        return True
    if "health_trackers" in record.getMessage():
        return True
    if record.exc_info and record.exc_info[2] is not None:
        frames = traceback.extract_tb(record.exc_info[2])
        return any("custom_components/health_trackers" in frame.filename for frame in frames)
    return False


@pytest.fixture(autouse=True)
def expect_log(caplog: pytest.LogCaptureFixture) -> Generator[ExpectedLog]:
    """Fail a test on any warning or error about the integration it did not name beforehand.

    Home Assistant's "Detected that custom integration" deprecation lines can never be expected.
    """
    expected = ExpectedLog()
    yield expected
    unexpected = [
        f"{record.levelname} {record.name}: {record.getMessage()}"
        for when in ("setup", "call")
        for record in caplog.get_records(when)
        if record.levelno >= logging.WARNING
        and _about_us(record)
        and NOT_TESTED_NOTICE not in record.getMessage()
        and (record.name == "homeassistant.helpers.frame" or not expected.allows(record))
    ]
    assert not unexpected, "unexpected log lines about health_trackers:\n" + "\n".join(unexpected)


REAL_DATETIME = "<class 'datetime.datetime'>"


@pytest.fixture(autouse=True)
def frozen_datetimes_stored_as_datetimes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test harness of Home Assistant 2026, on 2025.4 too: a frozen datetime's class reads as
    ``datetime.datetime``, the type a sensor's restore data records for timestamps (2025.4's
    harness names its own class there, which no restore reads back)."""
    if str(freezegun.api.FakeDatetime) != REAL_DATETIME:
        monkeypatch.setattr(type(freezegun.api.FakeDatetime), "__str__", lambda cls: REAL_DATETIME)


@pytest.fixture(autouse=True)
def frozen_now(freezer: FrozenDateTimeFactory) -> FrozenDateTimeFactory:
    """Every test starts at the same instant, so seeded data and snapshots are stable."""
    freezer.move_to(NOW)
    return freezer


@contextlib.asynccontextmanager
async def serving[F: FakeService](fake: F, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[F]:
    """Run a fake and point the integration at it through its development variable."""
    await fake.start()
    monkeypatch.setenv(f"HEALTH_TRACKERS_{fake.service.upper()}_URL", fake.origin)
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def sporttracks(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[FakeSportTracks]:
    """The fake SportTracks, and the integration pointed at it."""
    async with serving(FakeSportTracks(now=NOW), monkeypatch) as fake:
        yield fake


@pytest.fixture
async def boditrax(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[FakeBoditrax]:
    """The fake Boditrax, and the integration pointed at it."""
    async with serving(FakeBoditrax(now=NOW), monkeypatch) as fake:
        yield fake


class _IPv4Resolver(AsyncResolver):
    """Names resolved to IPv4 only: tests may open sockets to 127.0.0.1, never to ``::1``."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """``host``'s IPv4 addresses, whatever family the connector asks for."""
        return await super().resolve(host, port, socket.AF_INET)


@pytest.fixture
async def name_resolver(mock_zeroconf_resolver: Any) -> AsyncGenerator[None]:
    """A DNS resolver on this test's event loop for Home Assistant's shared session.

    The test harness hands every test one resolver made on another loop, which can resolve no
    name, and Home Assistant's real one would start mDNS.
    """
    mock_zeroconf_resolver.stop()
    resolver = _IPv4Resolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]
    try:
        with patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver", return_value=resolver
        ):
            yield
    finally:
        await resolver.close()
        mock_zeroconf_resolver.start()


@pytest.fixture
async def bactrack(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch, name_resolver: None
) -> AsyncGenerator[FakeBACtrack]:
    """The fake BACtrack, and the integration pointed at it through ``localhost``.

    authlib signs plain http only for local hosts; the integration never turns that check off.
    """
    async with serving(FakeBACtrack(now=NOW), monkeypatch) as fake:
        yield fake


@pytest.fixture
async def credentials(hass: HomeAssistant) -> None:
    """A SportTracks application credential, as the user would add it."""
    assert await async_setup_component(hass, "application_credentials", {})
    await async_import_client_credential(
        hass,
        DOMAIN,
        ClientCredential(DEFAULT_CLIENT.client_id, DEFAULT_CLIENT.client_secret, "SportTracks"),
        SPORTTRACKS_CREDENTIAL,
    )


@pytest.fixture
async def boditrax_credential(hass: HomeAssistant) -> None:
    """The Boditrax app's credential, named so it is offered for Boditrax only."""
    assert await async_setup_component(hass, "application_credentials", {})
    await async_import_client_credential(
        hass,
        DOMAIN,
        ClientCredential(BODITRAX_CLIENT.client_id, BODITRAX_CLIENT.client_secret, "Boditrax"),
        BODITRAX_CREDENTIAL,
    )


@pytest.fixture
def hass_client_no_auth(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> ClientSessionGenerator:
    """The test plugin's client of Home Assistant's server, without a login.

    Home Assistant's own server takes views registered after it started (ours are, at the first
    sign-in); aiohttp's test server freezes its router when it starts, so it is told not to.
    """

    async def client(*args: Any, **kwargs: Any) -> Any:
        hass.http.app._router.freeze = lambda: None  # type: ignore[method-assign]
        return await hass_client_no_auth(*args, **kwargs)

    return client


@pytest.fixture
async def browser(socket_enabled: None) -> AsyncGenerator[ClientSession]:
    """The user's browser, for the service's consent page."""
    async with ClientSession(connector=TCPConnector(family=socket.AF_INET)) as session:
        yield session


type Consent = Callable[[ConfigFlowResult, str], Awaitable[ConfigFlowResult]]


@pytest.fixture
def consent(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    browser: ClientSession,
    current_request_with_host: None,
) -> Consent:
    """Answer an external step on the fake's consent page, follow the redirect into Home Assistant.

    Services that may drop ``state`` (Boditrax) start at our own authorize view and come back to
    our callback; the others go straight to the service and back to Home Assistant's callback.
    """

    async def answer(result: ConfigFlowResult, decision: str = "allow") -> ConfigFlowResult:
        assert result["type"] is FlowResultType.EXTERNAL_STEP
        client = await hass_client_no_auth()
        url = URL(result["url"])
        ours = url.path == f"/api/{DOMAIN}/oauth2/authorize"
        if ours:
            start = await client.get(url.path_qs, allow_redirects=False)
            assert start.status == 302, await start.text()
            url = URL(start.headers["Location"])
        page = await browser.get(url)
        assert page.status == 200, await page.text()
        assert "<form" in await page.text()
        form = dict(url.query) | {"decision": decision}
        redirect = await browser.post(url.with_query(None), data=form, allow_redirects=False)
        assert redirect.status == 302
        location = URL(redirect.headers["Location"])
        assert location.path == (
            f"/api/{DOMAIN}/oauth2/callback" if ours else "/auth/external/callback"
        )
        callback = await client.get(location.path_qs)
        assert callback.status == 200
        return await hass.config_entries.flow.async_configure(result["flow_id"])

    return answer


type AddAccount = Callable[..., Awaitable[ConfigFlowResult]]


async def choose_way(hass: HomeAssistant, option: str) -> ConfigFlowResult:
    """Open the config flow's menu and choose ``option``, a way in, as a user does."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert option in result["menu_options"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": option}
    )


@pytest.fixture
def add_account(hass: HomeAssistant, consent: Consent, credentials: None) -> AddAccount:
    """Add a SportTracks account the way a user does: menu, consent page, back home."""

    async def add(service: str = "sporttracks", decision: str = "allow") -> ConfigFlowResult:
        result = await consent(await choose_way(hass, service), decision)
        await hass.async_block_till_done()
        return result

    return add


@pytest.fixture
async def entry(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> MockConfigEntry:
    """A loaded SportTracks entry, added through the flow."""
    result = await add_account()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    return result["result"]


# -- BACtrack (OAuth 1.0a): its page, then the callback view --------------------------------

type Approve = Callable[..., Awaitable[ConfigFlowResult]]
type AddBACtrack = Callable[..., Awaitable[ConfigFlowResult]]


async def decide_at_bactrack(browser: ClientSession, authorize_url: str, decision: str) -> Any:
    """The user on BACtrack's page: it shows who asks, then Allow or Deny."""
    url = URL(authorize_url)
    page = await browser.get(url)
    assert page.status == 200, await page.text()
    assert "Home Assistant" in await page.text()
    return await browser.post(
        url.with_query(None),
        data={"oauth_token": url.query["oauth_token"], "decision": decision},
        allow_redirects=False,
    )


async def start_bactrack(hass: HomeAssistant, **consumer: Any) -> ConfigFlowResult:
    """Menu → BACtrack → the consumer form, submitted."""
    result = await choose_way(hass, "bactrack")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "consumer"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], BACTRACK_CONSUMER | consumer
    )


@pytest.fixture
def approve(
    hass: HomeAssistant,
    browser: ClientSession,
    hass_client_no_auth: ClientSessionGenerator,
) -> Approve:
    """Answer the external step on the fake's page and follow its redirect into the callback view."""

    async def answer(
        result: ConfigFlowResult, decision: str = "allow", page: str | None = None
    ) -> ConfigFlowResult:
        """``page``: what the window says at the end (by default, what the decision leads to)."""
        assert result["type"] is FlowResultType.EXTERNAL_STEP, result
        redirect = await decide_at_bactrack(browser, result["url"], decision)
        assert redirect.status == 302
        location = URL(redirect.headers["Location"])
        assert str(location).startswith(f"https://example.com{OAUTH1_CALLBACK_PATH}?")
        callback = await (await hass_client_no_auth()).get(location.path_qs)
        assert callback.status == 200
        assert callback.headers["Cache-Control"] == "no-store"
        text = await callback.text()
        assert "window.close()" in text
        expected = page or ("Signed in." if decision == "allow" else "Access was not granted.")
        assert expected in text
        return await hass.config_entries.flow.async_configure(result["flow_id"])

    return answer


@pytest.fixture
def add_bactrack(
    hass: HomeAssistant, bactrack: FakeBACtrack, approve: Approve, current_request_with_host: None
) -> AddBACtrack:
    """Add the fake's BACtrack account the way a user does."""

    async def add(decision: str = "allow", page: str | None = None) -> ConfigFlowResult:
        result = await approve(await start_bactrack(hass), decision, page)
        await hass.async_block_till_done()
        return result

    return add


async def entry_added(sign_in: AddAccount) -> ConfigEntry:
    """The entry a sign-in created, loaded (the sign-in must create one)."""
    result = await sign_in()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: ConfigEntry = result["result"]
    return entry


@pytest.fixture
async def bactrack_entry(add_bactrack: AddBACtrack) -> ConfigEntry:
    """A loaded BACtrack entry, added through the flow."""
    return await entry_added(add_bactrack)


# -- any service, for tests that hold for each ----------------------------------------------

SERVICES = tuple(PROVIDERS)
"""Every provider's key: a test parametrised over ``service`` runs for each."""
ACCOUNTS = {"sporttracks": "16964", "boditrax": "m_123", "bactrack": str(BACTRACK_USER_ID)}
"""The fake account each provider with records signs in to, by provider: a test parametrised over
these adds records to it."""


@pytest.fixture
def fake(request: pytest.FixtureRequest, service: str) -> FakeService:
    """The fake of ``service``'s service (a Boditrax facility is read from the fake Boditrax)."""
    return request.getfixturevalue(PROVIDERS[service].service)  # type: ignore[no-any-return]


@pytest.fixture
def sign_in(
    request: pytest.FixtureRequest, hass: HomeAssistant, fake: FakeService, service: str
) -> AddAccount:
    """How a user adds an account of ``service``: menu, then the service's way of signing in.

    What that takes is resolved here: an async fixture cannot ask for other async ones.
    """
    if service == "sporttracks":
        return request.getfixturevalue("add_account")  # type: ignore[no-any-return]
    if service == "bactrack":
        return request.getfixturevalue("add_bactrack")  # type: ignore[no-any-return]
    if service not in ("boditrax", "boditrax_facility"):
        pytest.fail(f"tests/conftest.py does not know how to sign in to {service}")
    request.getfixturevalue("boditrax_credential")
    consent: Consent | None = request.getfixturevalue("consent") if service == "boditrax" else None

    async def add() -> ConfigFlowResult:
        result = await choose_way(hass, service)
        if consent is not None:
            result = await consent(result, "allow")
        await hass.async_block_till_done()
        return result

    return add


@pytest.fixture
async def service_entry(sign_in: AddAccount) -> ConfigEntry:
    """A loaded entry of ``service``, added through the config flow as a user does."""
    return await entry_added(sign_in)


# -- events as automations see them --------------------------------------------------------


class Fired:
    """Every event an automation sees: a change of an event entity from and to a real event.

    Changes from or to ``unavailable`` (an outage, a reload, a restart restoring the last event)
    are not events; the README's example automation uses the same rule.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    @callback
    def listen(self, event: Event[EventStateChangedData]) -> None:
        """On the event loop, in order (a callable object would run in the executor)."""
        old, new = event.data["old_state"], event.data["new_state"]
        if not event.data["entity_id"].startswith("event.") or old is None or new is None:
            return
        if old.state == STATE_UNAVAILABLE or new.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return
        if new.attributes.get("id") == old.attributes.get("id"):
            return
        self.events.append((new.attributes["event_type"], dict(new.attributes)))

    def ids(self) -> list[str]:
        """The record ids fired, in order; cleared."""
        ids = [attributes["id"] for _, attributes in self.events]
        self.events.clear()
        return ids


@pytest.fixture
def fired(hass: HomeAssistant) -> Generator[Fired]:
    """What fired as events from now on."""
    fired = Fired()
    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, fired.listen)
    yield fired
    unsubscribe()


def entity_values(hass: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """Entity id → state of every entity of an entry."""
    return {
        item.entity_id: hass.states.get(item.entity_id).state  # type: ignore[union-attr]
        for item in er.async_entries_for_config_entry(er.async_get(hass), entry_id)
    }


async def async_poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Let ``delta`` pass and run whatever polls became due."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def start_reauth(hass: HomeAssistant, entry: ConfigEntry) -> ConfigFlowResult:
    """Start reauth as Home Assistant does on ConfigEntryAuthFailed; the flow's first result."""
    entry.async_start_reauth(hass)
    await hass.async_block_till_done()
    return await reauth_flow(hass, entry)


async def reauth_flow(hass: HomeAssistant, entry: ConfigEntry) -> ConfigFlowResult:
    """The reauth flow in progress for an entry, at its confirmation form."""
    flows = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("source") == SOURCE_REAUTH
        and flow["context"].get("entry_id") == entry.entry_id
    ]
    assert len(flows) == 1, flows
    return await hass.config_entries.flow.async_configure(flows[0]["flow_id"])


async def flow_message(hass: HomeAssistant, result: ConfigFlowResult) -> str:
    """The text the frontend shows when a flow ends: its translation, placeholders filled."""
    domain = result.get("translation_domain") or DOMAIN
    strings = await async_get_translations(hass, "en", "config", [domain])
    if result["type"] is FlowResultType.CREATE_ENTRY:
        key = f"create_entry.{result.get('description') or 'default'}"
    else:
        assert result["type"] is FlowResultType.ABORT
        key = f"abort.{result['reason']}"
    template = strings[f"component.{domain}.config.{key}"]
    return template.format(**(result.get("description_placeholders") or {}))
