"""The config flow, driven like a user: menu, credential, the fake's consent page, callback."""

from __future__ import annotations

from dataclasses import replace
import json
import os
from typing import Any

from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.core import HomeAssistant
from homeassistant.core_config import async_process_ha_core_config
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import config_entry_oauth2_flow
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)
from yarl import URL

from custom_components.health_trackers import config_flow, views
from custom_components.health_trackers.const import CONF_PROVIDER, DOMAIN
from custom_components.health_trackers.providers import PROVIDERS
from custom_components.health_trackers.providers.sporttracks import SPORTTRACKS
from custom_components.health_trackers.views import OAUTH2_AUTHORIZE_PATH
from fakes import FakeSportTracks, OAuth2Client, SportTracksAccount
from fakes.boditrax import DEFAULT_CLIENT as BODITRAX_CLIENT
from fakes.sporttracks import DEFAULT_CLIENT

from .conftest import NOW, AddAccount, Consent, ExpectedLog, choose_way, flow_message, start_reauth


async def test_add_sporttracks_account(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> None:
    """The whole dance creates a loaded entry for the fake's user, with a JSON token request."""
    result = await add_account()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == "sporttracks_16964"
    assert entry.title == "SportTracks 16964"
    assert entry.data[CONF_PROVIDER] == "sporttracks"
    assert entry.data["auth_implementation"] == "sporttracks_credential"
    assert entry.data["token"]["expires_in"] == 7200
    assert entry.state is ConfigEntryState.LOADED
    token_requests = [r for r in sporttracks.requests if r.path == "/oauth2/token"]
    assert len(token_requests) == 1
    assert token_requests[0].headers["Content-Type"] == "application/json"
    assert token_requests[0].headers["Accept"] == "application/json"


async def test_authorize_url_has_state_and_service_urls(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    credentials: None,
    current_request_with_host: None,
) -> None:
    """The external step goes to the service's authorize page with a non-empty state."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == [
        "bactrack",
        "boditrax",
        "boditrax_linked",
        "boditrax_facility",
        "sporttracks",
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sporttracks"}
    )
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    assert result["url"].startswith(f"{sporttracks.origin}/oauth2/authorize?")
    assert "state=" in result["url"]
    assert "redirect_uri=https://example.com/auth/external/callback" in result["url"]


async def test_same_account_twice_aborts(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> None:
    """A second entry for the same account is refused."""
    assert (await add_account())["type"] is FlowResultType.CREATE_ENTRY
    result = await add_account()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_user_denies(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> None:
    """Deny on the consent page aborts and creates nothing."""
    result = await add_account(decision="deny")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "access_denied"
    assert await flow_message(hass, result) == (
        "Access was not granted: Home Assistant was not allowed on the SportTracks page. "
        "Add the account again and select Allow to link it."
    )
    assert not hass.config_entries.async_entries(DOMAIN)


@pytest.mark.parametrize(
    ("error", "reason", "message"),
    [
        (
            "invalid_scope",
            "invalid_scope",
            "SportTracks refused the permissions Home Assistant asks for (invalid_scope). Ask "
            "SportTracks to grant your app the scopes the "
            "[README](https://github.com/health-trackers/health_trackers#readme) lists, then add the"
            " account again.",
        ),
        (
            "unauthorized_client",
            "unauthorized_client",
            "SportTracks does not let this application credential sign accounts in "
            "(unauthorized_client). Check the app's settings with SportTracks, or add the account "
            "with another credential.",
        ),
        (
            "server_error",
            "authorize_error",
            'SportTracks did not grant access; it answered "server_error". Try again; if it '
            "happens again, check your app's settings with SportTracks.",
        ),
    ],
)
async def test_service_errors_are_told_as_they_are(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    credentials: None,
    current_request_with_host: None,
    hass_client_no_auth: ClientSessionGenerator,
    error: str,
    reason: str,
    message: str,
) -> None:
    """Whatever ``error`` the service sends back reaches the user as what it means."""
    result = await choose_way(hass, "sporttracks")
    state = URL(result["url"]).query["state"]
    client = await hass_client_no_auth()
    answer = await client.get(f"/auth/external/callback?state={state}&error={error}")
    assert answer.status == 200
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert await flow_message(hass, result) == message


async def test_no_credential_asks_for_one(
    hass: HomeAssistant, sporttracks: FakeSportTracks, current_request_with_host: None
) -> None:
    """Without a credential the flow aborts so the frontend opens the add-credential dialog."""
    assert await async_setup_component(hass, "application_credentials", {})
    result = await choose_way(hass, "sporttracks")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "missing_credentials"


async def _store(hass: HomeAssistant, name: str | None, auth_domain: str, client_id: str) -> None:
    assert await async_setup_component(hass, "application_credentials", {})
    await async_import_client_credential(
        hass, DOMAIN, ClientCredential(client_id, DEFAULT_CLIENT.client_secret, name), auth_domain
    )


async def _service_url(
    hass_client_no_auth: ClientSessionGenerator, result: ConfigFlowResult
) -> str:
    """The service's authorize URL: Boditrax's external step opens our view, which redirects there."""
    url = URL(result["url"])
    assert url.path == OAUTH2_AUTHORIZE_PATH
    client = await hass_client_no_auth()
    answer = await client.get(url.path_qs, allow_redirects=False)
    assert answer.status == 302
    return answer.headers["Location"]


@pytest.mark.usefixtures("boditrax", "current_request_with_host")
async def test_credentials_of_two_services_stay_apart(
    hass: HomeAssistant, sporttracks: FakeSportTracks, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """Each service auto-picks its own credential and reaches only its own authorize page."""
    await _store(hass, "SportTracks", "st_cred", DEFAULT_CLIENT.client_id)
    await _store(hass, "Boditrax app", "other_cred", BODITRAX_CLIENT.client_id)
    result = await choose_way(hass, "sporttracks")
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    assert result["url"].startswith(f"{sporttracks.origin}/oauth2/authorize?")
    assert f"client_id={DEFAULT_CLIENT.client_id}" in result["url"]
    result = await choose_way(hass, "boditrax")
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    url = await _service_url(hass_client_no_auth, result)
    assert url.startswith(f"{os.environ['HEALTH_TRACKERS_BODITRAX_URL']}/oauth/auth?")
    assert f"client_id={BODITRAX_CLIENT.client_id}" in url
    assert "scope=measurement_analysis+front_end" in url


@pytest.mark.usefixtures("boditrax", "current_request_with_host")
async def test_single_credential_of_other_service_is_not_used(
    hass: HomeAssistant, sporttracks: FakeSportTracks
) -> None:
    """The only stored credential is named for the other service: ask for a new one."""
    await _store(hass, "Boditrax", "other_cred", BODITRAX_CLIENT.client_id)
    result = await choose_way(hass, "sporttracks")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "missing_credentials"


@pytest.mark.usefixtures("boditrax")
async def test_unnamed_credential_is_chosen_by_hand_then_belongs_to_its_service(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    consent: Consent,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A credential we cannot place is never auto-picked; once used, it is that service's."""
    await _store(hass, None, "plain_cred", DEFAULT_CLIENT.client_id)
    result = await choose_way(hass, "sporttracks")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_implementation"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": "plain_cred"}
    )
    result = await consent(result, "allow")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    result = await choose_way(hass, "boditrax")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "missing_credentials"
    await _store(hass, "Boditrax", "other_cred", BODITRAX_CLIENT.client_id)
    result = await choose_way(hass, "boditrax")
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    url = await _service_url(hass_client_no_auth, result)
    assert url.startswith(f"{os.environ['HEALTH_TRACKERS_BODITRAX_URL']}/oauth/auth?")
    assert f"client_id={BODITRAX_CLIENT.client_id}" in url


@pytest.mark.usefixtures("boditrax", "current_request_with_host")
async def test_several_candidates_are_offered_not_guessed(
    hass: HomeAssistant, sporttracks: FakeSportTracks
) -> None:
    """Two credentials that may be SportTracks': the user picks; the other service's is not listed."""
    await _store(hass, "SportTracks home", "st_home", DEFAULT_CLIENT.client_id)
    await _store(hass, None, "plain_cred", "plain-client")
    await _store(hass, "Boditrax", "other_cred", BODITRAX_CLIENT.client_id)
    result = await choose_way(hass, "sporttracks")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_implementation"
    assert result["description_placeholders"] == {"service": "SportTracks"}
    choices = result["data_schema"].schema["implementation"].container
    assert set(choices) == {"st_home", "plain_cred"}


async def test_token_exchange_failures(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> None:
    """A broken token endpoint aborts cleanly; the next try works."""
    for status, body, content_type in (
        (500, '{"error": "server_error"}', "application/json"),
        (502, "<html>bad gateway</html>", "text/html"),
        (200, "<html>maintenance</html>", "text/html"),
        (200, '{"token_type": "Bearer"}', "application/json"),
        (200, '{"access_token": "a", "expires_in": 7200}', "application/json"),
        (307, "", "text/plain"),
    ):
        sporttracks.fail(status, body, content_type=content_type, scope="token", times=1)
        result = await add_account()
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "oauth_failed"
    assert not hass.config_entries.async_entries(DOMAIN)
    assert (await add_account())["type"] is FlowResultType.CREATE_ENTRY


async def test_wrong_client_secret(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    consent: Consent,
    current_request_with_host: None,
) -> None:
    """A credential whose secret the service rejects aborts as unauthorized."""
    sporttracks.register_client(OAuth2Client(DEFAULT_CLIENT.client_id, "rotated-secret"))
    await _store(hass, "SportTracks", "st_cred", DEFAULT_CLIENT.client_id)
    result = await consent(await choose_way(hass, "sporttracks"), "allow")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "oauth_unauthorized"


@pytest.mark.parametrize("expires_in", [None, "soon", "3600.0"])
async def test_token_lifetime_is_read_tolerantly(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    expires_in: str | None,
    expect_log: ExpectedLog,
) -> None:
    """A missing or unreadable expires_in means the documented two hours; a string number counts."""
    expect_log("SportTracks 16964.*could not authenticate")
    answer = {"access_token": "a", "refresh_token": "r", "token_type": "Bearer"}
    if expires_in is not None:
        answer["expires_in"] = expires_in
    sporttracks.fail(200, json.dumps(answer), scope="token", times=1)
    sporttracks.fail(200, '{"user": {"uid": "16964"}}', path="/api/v2/system/connect", times=1)
    sporttracks.fail(401, "{}", times=1)  # the token is made up: keep the new entry from polling
    result = await add_account()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].data["token"]["expires_in"] == (
        3600 if expires_in == "3600.0" else 7200
    )


@pytest.mark.parametrize(
    ("status", "reason"), [(401, "invalid_auth"), (503, "cannot_connect"), (200, "cannot_connect")]
)
async def test_account_lookup_failures(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    status: int,
    reason: str,
    expect_log: ExpectedLog,
) -> None:
    """If the service cannot say whose account it is, nothing is created."""
    expect_log("Could not identify the SportTracks account")
    sporttracks.fail(status, "{}" if status != 200 else "[]", times=1)
    result = await add_account()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_reauth_same_account(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount, consent: Consent
) -> None:
    """Reauth reuses the entry's credential and stores the new token."""
    entry = (await add_account())["result"]
    old_token = entry.data["token"]["access_token"]
    result = await start_reauth(hass, entry)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["service"] == "SportTracks"
    assert result["description_placeholders"]["account"] == entry.title
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await consent(result, "allow")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert await flow_message(hass, result) == "Signed in again. The account's sensors are back."
    assert entry.data["token"]["access_token"] != old_token
    assert entry.data[CONF_PROVIDER] == "sporttracks"


async def test_reauth_other_account_is_refused(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount, consent: Consent
) -> None:
    """Signing in as someone else does not hijack the entry, and the reauth is offered again."""
    entry = (await add_account())["result"]
    token = dict(entry.data["token"])
    other = sporttracks.add_account(
        SportTracksAccount.generate("777", "Sam", seed=2, count=3, now=NOW)
    )
    sporttracks.current_user = other.uid
    first = await start_reauth(hass, entry)
    result = await hass.config_entries.flow.async_configure(first["flow_id"], {})
    result = await consent(result, "allow")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert entry.data["token"] == token
    await hass.async_block_till_done()
    (again,) = entry.async_get_active_flows(hass, {SOURCE_REAUTH})
    assert again["flow_id"] != first["flow_id"]
    assert again["step_id"] == "reauth_confirm"


@pytest.mark.parametrize(
    ("address", "callbacks"),
    [
        (
            "http://ha.local:8123",
            "Boditrax: `http://ha.local:8123/api/health_trackers/oauth2/callback`;"
            " SportTracks: `http://ha.local:8123/auth/external/callback`",
        ),
        (
            "my",  # My Home Assistant set up: Home Assistant's own callback goes through it
            "Boditrax: `http://ha.local:8123/api/health_trackers/oauth2/callback`;"
            " SportTracks: `https://my.home-assistant.io/redirect/oauth`",
        ),
        (
            None,  # no address known: the path, after the user's own
            "Boditrax: `…/api/health_trackers/oauth2/callback`;"
            " SportTracks: `…/auth/external/callback`",
        ),
    ],
)
async def test_credential_dialog_says_what_to_register(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    monkeypatch: pytest.MonkeyPatch,
    address: str | None,
    callbacks: str,
) -> None:
    """The add-credential dialog names the services, the redirect URL each needs (Boditrax
    its own) and links the README, as Home Assistant's dialog asks for them."""
    if address is None:

        def no_address(*args: object, **kwargs: object) -> str:
            raise NoURLAvailableError

        monkeypatch.setattr(views, "get_url", no_address)
    else:
        await async_process_ha_core_config(hass, {"internal_url": "http://ha.local:8123"})
    if address == "my":
        hass.config.components.add("my")
    assert await async_setup_component(hass, "application_credentials", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "application_credentials/config"})
    answer = await client.receive_json()
    placeholders = answer["result"]["integrations"][DOMAIN]["description_placeholders"]
    assert placeholders == {
        "services": "Boditrax, SportTracks",
        "callbacks": callbacks,
        "readme": "https://github.com/health-trackers/health_trackers#readme",
    }


@pytest.mark.usefixtures("current_request_with_host")
async def test_menu_comes_from_the_registry(
    hass: HomeAssistant, sporttracks: FakeSportTracks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider added to the registry is offered, with a linked way if it has one, and each
    option's step signs in to that provider: no edit to the flow."""
    assert SPORTTRACKS.oauth2 is not None
    example = replace(
        SPORTTRACKS,
        service="example",
        name="Example",
        default_origin=sporttracks.origin,
        oauth2=replace(SPORTTRACKS.oauth2, linked_accounts=True),
    )
    monkeypatch.setitem(PROVIDERS, example.key, example)
    await _store(hass, "Example app", "example_credential", DEFAULT_CLIENT.client_id)
    menu = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    options = list(menu["menu_options"])  # type: ignore[call-overload]
    assert options[-3:] == ["sporttracks", "example", "example_linked"]
    # An option's step is bound on the flow when the menu is shown; none replaces a real step.
    flow = config_flow.HealthTrackersConfigFlow
    assert not [option for option in options if hasattr(flow, f"async_step_{option}")]
    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "example"}
    )
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    assert result["url"].startswith(f"{sporttracks.origin}/oauth2/authorize?")
    result = await choose_way(hass, "example_linked")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "linked_account"
    assert result["description_placeholders"] == {"service": "Example"}


async def test_reconfigure_switches_credential(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount, consent: Consent
) -> None:
    """Reconfigure signs the same account in with another credential, keeping the entry."""
    entry = (await add_account())["result"]
    backup = sporttracks.register_client(OAuth2Client("backup-client", "backup-secret"))
    await async_import_client_credential(
        hass,
        DOMAIN,
        ClientCredential(backup.client_id, backup.client_secret, "SportTracks backup"),
        "backup",
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["step_id"] == "pick_implementation"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": "backup"}
    )
    assert "client_id=backup-client" in result["url"]
    result = await consent(result, "allow")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert await flow_message(hass, result) == (
        "The account is signed in again, with its application credential."
    )
    assert entry.data["auth_implementation"] == "backup"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_other_account_is_refused(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount, consent: Consent
) -> None:
    """Reconfigure cannot move an entry to another account."""
    entry = (await add_account())["result"]
    sporttracks.current_user = sporttracks.add_account(SportTracksAccount("8", "Kim")).uid
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await consent(result, "allow")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert entry.unique_id == "sporttracks_16964"


@pytest.mark.skipif(
    not hasattr(config_entry_oauth2_flow, "ImplementationUnavailableError"),
    reason="credential providers cannot be unavailable before Home Assistant 2025.12",
)
async def test_credential_provider_unavailable(
    hass: HomeAssistant, sporttracks: FakeSportTracks, current_request_with_host: None
) -> None:
    """A credential provider that is down (Home Assistant Cloud, say): a plain abort, no error."""

    async def unavailable(hass: HomeAssistant, domain: str) -> list[Any]:
        raise config_entry_oauth2_flow.ImplementationUnavailableError("cloud is down")

    assert await async_setup_component(hass, "application_credentials", {})
    config_entry_oauth2_flow.async_add_implementation_provider(hass, "cloud", unavailable)
    result = await choose_way(hass, "sporttracks")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "oauth_implementation_unavailable"
    assert await flow_message(hass, result)


@pytest.mark.skipif(
    not hasattr(config_entry_oauth2_flow, "ImplementationUnavailableError"),
    reason="credential providers cannot be unavailable before Home Assistant 2025.12",
)
async def test_credential_provider_unavailable_at_setup_retries(
    hass: HomeAssistant, expect_log: ExpectedLog
) -> None:
    """The only credential provider is down when the entry loads: retry later, no reauth."""
    expect_log("credentials are not available right now")

    async def unavailable(hass: HomeAssistant, domain: str) -> list[Any]:
        raise config_entry_oauth2_flow.ImplementationUnavailableError("cloud is down")

    config_entry_oauth2_flow.async_add_implementation_provider(hass, "cloud", unavailable)
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id="sporttracks_16964",
        data={CONF_PROVIDER: "sporttracks", "auth_implementation": "cloud", "token": {}},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
