"""A gym's Boditrax facility end to end: the app signs in as itself, statistics become sensors."""

from __future__ import annotations

from datetime import timedelta
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.json import json_dumps
import pytest
from pytest_homeassistant_custom_component.typing import (
    MockHAClientWebSocket,
    WebSocketGenerator,
)

from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from fakes import FakeBoditrax, OAuth2Client
from fakes.base import numbers_as_strings
from fakes.boditrax import ALL_SCOPES, DEFAULT_CLIENT, Facility

from .conftest import (
    BODITRAX_CREDENTIAL,
    NOW,
    ExpectedLog,
    async_poll,
    choose_way,
    flow_message,
    reauth_flow,
)
from .test_restore import start, stop

PREFIX = "sensor.riverside_gym_"
STATISTICS = "/rest/v2.10/facilities/f_1/statistics"
TOKEN = "/oauth/token"
INTERVAL = timedelta(minutes=15)
FACILITY_SENSORS = {
    "scans_today": ("scans", "today"),
    "scans_this_week": ("scans", "thisweek"),
    "scans_this_month": ("scans", "thismonth"),
    "members_scanned_last_30_days": ("members", "scannedlast30days"),
    "new_members_this_month": ("members", "newthismonth"),
}
"""Sensor key → where the fake's statistics answer has its value."""

pytestmark = pytest.mark.usefixtures("boditrax_credential")


async def _add(hass: HomeAssistant) -> ConfigFlowResult:
    """Menu → Boditrax facility; the one credential named Boditrax is picked by itself."""
    result = await choose_way(hass, "boditrax_facility")
    await hass.async_block_till_done()
    return result


async def test_a_facility_is_added_in_its_own_words(
    hass: HomeAssistant, boditrax: FakeBoditrax, device_registry: dr.DeviceRegistry
) -> None:
    """Not "Account added.": a facility is read with the app's credential; its device says so."""
    result = await _add(hass)
    assert await flow_message(hass, result) == (
        "Added. Home Assistant reads it with the app's own credential; nobody signs in."
    )
    (device,) = dr.async_entries_for_config_entry(device_registry, result["result"].entry_id)
    assert (device.manufacturer, device.model) == ("Boditrax", "Facility")


@pytest.fixture
async def entry(hass: HomeAssistant, boditrax: FakeBoditrax) -> ConfigEntry:
    """The fake's facility, added through the flow."""
    result = await _add(hass)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    return result["result"]


def _served(boditrax: FakeBoditrax, facility: str = "f_1") -> dict[str, Any]:
    """What the fake's statistics answer holds now."""
    return boditrax.facilities[facility].statistics(NOW)


def _shown(hass: HomeAssistant, prefix: str = PREFIX) -> dict[str, str]:
    """Sensor key → the state of the facility's sensor."""
    return {key: hass.states.get(f"{prefix}{key}").state for key in FACILITY_SENSORS}  # type: ignore[union-attr]


def _expected(statistics: dict[str, Any]) -> dict[str, str]:
    """Sensor key → the state a statistics answer should show."""
    return {key: str(statistics[group][field]) for key, (group, field) in FACILITY_SENSORS.items()}


async def _add_credential(ws: MockHAClientWebSocket, name: str, client: OAuth2Client) -> str:
    """A credential added as in the UI (the same app identifier may be added again); its key."""
    await ws.send_json_auto_id(
        {
            "type": "application_credentials/create",
            "domain": DOMAIN,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "name": name,
        }
    )
    answer = await ws.receive_json()
    assert answer["success"], answer
    return str(answer["result"]["id"])


def _credential_requests(boditrax: FakeBoditrax) -> list[dict[str, list[str]]]:
    """The form bodies of every token request, in order."""
    return [
        parse_qs(request.body.decode()) for request in boditrax.requests if request.path == TOKEN
    ]


async def test_add_facility(
    hass: HomeAssistant, boditrax: FakeBoditrax, caplog: pytest.LogCaptureFixture
) -> None:
    """No sign-in page: the app's own token reads the facility, which becomes a loaded entry.

    The entry keeps which credential and the token, no refresh token; the secret is not logged.
    """
    caplog.set_level(logging.DEBUG)
    result = await _add(hass)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == "Riverside Gym"
    assert entry.unique_id == "boditrax_facility_f_1"
    assert entry.state is ConfigEntryState.LOADED
    assert set(entry.data) == {"provider", "auth_implementation", "token"}
    assert entry.data["provider"] == "boditrax_facility"
    assert entry.data["auth_implementation"] == BODITRAX_CREDENTIAL
    assert "refresh_token" not in entry.data["token"]
    assert entry.data["token"]["expires_in"] == 1800
    assert not boditrax.count("/oauth/auth")
    (grant,) = _credential_requests(boditrax)
    assert grant == {
        "grant_type": ["client_credentials"],
        "client_id": [DEFAULT_CLIENT.client_id],
        "client_secret": [DEFAULT_CLIENT.client_secret],
    }
    assert DEFAULT_CLIENT.client_secret not in caplog.text
    assert entry.data["token"]["access_token"] not in caplog.text


async def test_sensors_show_what_boditrax_counts(
    hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """Counts, units and state classes on the facility's device; no event entity."""
    statistics = _served(boditrax)
    assert _shown(hass) == _expected(statistics)
    for key in ("scans_today", "scans_this_week", "scans_this_month", "new_members_this_month"):
        state = hass.states.get(f"{PREFIX}{key}")
        assert state.attributes[ATTR_STATE_CLASS] == SensorStateClass.TOTAL_INCREASING
    members = hass.states.get(f"{PREFIX}members_scanned_last_30_days")
    assert members.attributes[ATTR_STATE_CLASS] == SensorStateClass.MEASUREMENT
    assert members.attributes[ATTR_UNIT_OF_MEASUREMENT] == "members"
    assert hass.states.get(f"{PREFIX}scans_today").attributes[ATTR_UNIT_OF_MEASUREMENT] == "scans"
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.name == "Riverside Gym"
    assert device.manufacturer == "Boditrax"
    assert device.identifiers == {(DOMAIN, "boditrax_facility_f_1")}
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert {item.domain for item in entities} == {"sensor"}


async def test_machine_sensors(
    hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """Each machine's scans, named after it; today's enabled, the week's and month's not."""
    (reception, studio) = _served(boditrax)["machines"]
    assert hass.states.get(f"{PREFIX}reception_scans_today").state == str(
        reception["scans"]["today"]
    )
    assert hass.states.get(f"{PREFIX}studio_scans_today").state == str(studio["scans"]["today"])
    registry = er.async_get(hass)
    week = registry.async_get(f"{PREFIX}reception_scans_this_week")
    assert week is not None
    assert week.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert week.unique_id == "boditrax_facility_f_1_machine_bx_1_scans_this_week"
    registry.async_update_entity(week.entity_id, disabled_by=None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(week.entity_id).state == str(reception["scans"]["thisweek"])


def _machine_sensors(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, str | None]:
    """Unique id → entity id of every machine sensor the registry holds for the entry, and
    that every fixed sensor is still there."""
    registered = {
        item.unique_id: item.entity_id
        for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    fixed = {f"boditrax_facility_f_1_{key}" for key in FACILITY_SENSORS}
    assert fixed <= set(registered), "the fixed sensors are never removed"
    return {
        unique_id: entity_id
        for unique_id, entity_id in registered.items()
        if unique_id not in fixed
    }


def _machine_ids(*machines: str) -> set[str]:
    """The unique ids of the sensors of ``machines``."""
    return {
        f"boditrax_facility_f_1_machine_{machine}_scans_{period}"
        for machine in machines
        for period in ("today", "this_week", "this_month")
    }


async def test_new_machine_and_vanished_machine(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A machine the facility starts listing gets its sensors at the next poll; the sensors of
    one it stops listing are removed, the disabled ones too; listed again, it gets them back."""
    assert set(_machine_sensors(hass, entry)) == _machine_ids("bx_1", "bx_2")
    facility = boditrax.facilities["f_1"]
    facility.machines = {"bx_2": "Studio", "bx_3": "Spa"}
    await async_poll(hass, frozen_now, INTERVAL)
    assert hass.states.get(f"{PREFIX}spa_scans_today").state == "0"
    assert hass.states.get(f"{PREFIX}studio_scans_today").state == str(
        _served(boditrax)["machines"][0]["scans"]["today"]
    )
    assert hass.states.get(f"{PREFIX}reception_scans_today") is None
    assert set(_machine_sensors(hass, entry)) == _machine_ids("bx_2", "bx_3")
    facility.machines = {"bx_1": "Reception", "bx_2": "Studio"}
    await async_poll(hass, frozen_now, INTERVAL)
    assert set(_machine_sensors(hass, entry)) == _machine_ids("bx_1", "bx_2")
    assert hass.states.get(f"{PREFIX}reception_scans_today").state == str(
        _served(boditrax)["machines"][0]["scans"]["today"]
    )


async def test_machine_gone_while_stopped_is_removed_at_the_first_answer(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A machine the facility stopped listing while Home Assistant was stopped: its sensors,
    registered before, are removed once Boditrax first answers, not while it is down."""
    await stop(hass, entry)
    boditrax.facilities["f_1"].machines = {"bx_2": "Studio"}
    boditrax.fail(503, "{}", path=STATISTICS)
    await start(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert set(_machine_sensors(hass, entry)) == _machine_ids("bx_1", "bx_2")
    boditrax.clear_faults()
    await async_poll(hass, frozen_now, INTERVAL)
    assert set(_machine_sensors(hass, entry)) == _machine_ids("bx_2")
    assert hass.states.get(f"{PREFIX}reception_scans_today") is None
    await stop(hass, entry)
    boditrax.facilities["f_1"].machines = {}
    await start(hass, entry)
    assert _machine_sensors(hass, entry) == {}
    assert _shown(hass) == _expected(_served(boditrax))


async def test_answer_without_machines_keeps_them(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """An answer with no list of machines says nothing of them: their sensors stay (unknown
    for that poll) and show their counts again at the next full answer."""
    served = _served(boditrax)
    boditrax.fail(200, json.dumps({"scans": served["scans"]}), path=STATISTICS, times=1)
    await async_poll(hass, frozen_now, INTERVAL)
    assert set(_machine_sensors(hass, entry)) == _machine_ids("bx_1", "bx_2")
    assert hass.states.get(f"{PREFIX}reception_scans_today").state == "unknown"
    await async_poll(hass, frozen_now, INTERVAL)
    assert hass.states.get(f"{PREFIX}reception_scans_today").state == str(
        _served(boditrax)["machines"][0]["scans"]["today"]
    )


async def test_second_add_aborts(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """The same facility twice: already configured, one entry."""
    result = await _add(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_one_entry_per_facility(hass: HomeAssistant, boditrax: FakeBoditrax) -> None:
    """An app two facilities consented to: each add takes the next one, then aborts."""
    boditrax.add_facility(Facility.generate("f_2", "Harbour Gym", seed=4, now=NOW))
    first, second, third = [await _add(hass) for _ in range(3)]
    assert first["result"].unique_id == "boditrax_facility_f_1"
    assert second["result"].unique_id == "boditrax_facility_f_2"
    assert third["reason"] == "already_configured"
    assert _shown(hass, "sensor.harbour_gym_") == _expected(_served(boditrax, "f_2"))


async def test_facility_known_by_id_only(hass: HomeAssistant, boditrax: FakeBoditrax) -> None:
    """A listing of ids alone: the entry is named after the service and the facility's id."""
    boditrax.fail(200, '["f_1"]', path="/rest/v2.10/facilities")
    result = await _add(hass)
    assert result["result"].title == "Boditrax f_1"
    assert hass.states.get("sensor.boditrax_f_1_scans_today") is not None


async def test_member_and_facility_share_the_credential(
    hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """The credential a facility uses is still Boditrax's: a member picks it by itself."""
    result = await choose_way(hass, "boditrax_linked")
    assert result["step_id"] == "linked_account"


async def test_refused_secret_in_the_flow(
    hass: HomeAssistant, boditrax: FakeBoditrax, hass_ws_client: WebSocketGenerator
) -> None:
    """Boditrax reset the app secret: the form says so and stays open; once a credential with
    the new secret is added, submitting again lists it, and it works."""
    ws = await hass_ws_client(hass)
    renewed = boditrax.register_client(
        OAuth2Client(DEFAULT_CLIENT.client_id, "new-secret", scopes=ALL_SCOPES)
    )
    result = await _add(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_implementation"
    assert result["errors"] == {"base": "invalid_client"}
    assert result["description_placeholders"] == {"service": "Boditrax"}
    assert not hass.config_entries.async_entries(DOMAIN)
    key = await _add_credential(ws, "Boditrax (new secret)", renewed)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": BODITRAX_CREDENTIAL}
    )
    assert result["errors"] == {"base": "invalid_client"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": key}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].data["auth_implementation"] == key


async def test_token_endpoint_down_in_the_flow(hass: HomeAssistant, boditrax: FakeBoditrax) -> None:
    """Boditrax down while adding: the form asks to try again; it works once Boditrax is back."""
    boditrax.fail(503, "{}", scope="token", times=1)
    result = await _add(hass)
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": BODITRAX_CREDENTIAL}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_app_without_reporting_cannot_add(
    hass: HomeAssistant, boditrax: FakeBoditrax
) -> None:
    """Without ``reporting`` the facility cannot be read: the flow names the scope."""
    boditrax.withhold_reporting = True
    result = await _add(hass)
    assert result["reason"] == "application_missing_scope"
    assert await flow_message(hass, result) == (
        "Boditrax will not show your app what Home Assistant reads: your application credential "
        "lacks the scope reporting. Ask Boditrax to add reporting to your app, then add it again."
    )
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_no_facility_consented(hass: HomeAssistant, boditrax: FakeBoditrax) -> None:
    """An app no facility consented to yet: the flow says what Boditrax must do."""
    boditrax.facilities.clear()
    result = await _add(hass)
    assert result["reason"] == "no_accounts"
    assert "Ask Boditrax to record your facility's consent" in await flow_message(hass, result)


async def test_idle_poll_and_token_expiry(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A poll is one request; once the 30-minute token expires, the app asks for a new one
    (client credentials again, never a refresh) and carries on."""
    boditrax.requests.clear()
    await async_poll(hass, frozen_now, INTERVAL)
    assert [r.path for r in boditrax.requests] == [STATISTICS]
    boditrax.requests.clear()
    await async_poll(hass, frozen_now, INTERVAL)
    assert [r.path for r in boditrax.requests] == [TOKEN, STATISTICS]
    (grant,) = _credential_requests(boditrax)
    assert grant["grant_type"] == ["client_credentials"]
    assert "refresh_token" not in entry.data["token"]
    assert _shown(hass) == _expected(_served(boditrax))


async def test_counts_follow_the_gym(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A member's scan at the gym is counted at the next poll."""
    before = int(hass.states.get(f"{PREFIX}scans_today").state)
    boditrax.add_record("m_123")
    await async_poll(hass, frozen_now, INTERVAL)
    assert int(hass.states.get(f"{PREFIX}scans_today").state) == before + 1
    assert hass.states.get(f"{PREFIX}reception_scans_today").state == str(
        _served(boditrax)["machines"][0]["scans"]["today"]
    )


@pytest.mark.parametrize("fault", ["503", "dropped"])
async def test_outage_and_recovery(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    expect_log: ExpectedLog,
    fault: str,
) -> None:
    """Boditrax down: unavailable, logged once, no reauth; back: values and a recovery line.

    (Timeouts and every other fault: tests/test_fault_matrix.py.)
    """
    expect_log("Error fetching Riverside Gym data")
    if fault == "503":
        boditrax.fail(503, "<html>down</html>", content_type="text/html", path=STATISTICS)
    else:
        boditrax.fail(drop=True, path=STATISTICS)
    for _ in range(2):
        await async_poll(hass, frozen_now, INTERVAL)
        assert set(_shown(hass).values()) == {"unavailable"}
    assert sum("Error fetching Riverside Gym data" in r.getMessage() for r in caplog.records) == 1
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    boditrax.clear_faults()
    await async_poll(hass, frozen_now, INTERVAL)
    assert _shown(hass) == _expected(_served(boditrax))
    assert sum("Fetching Riverside Gym data recovered" in r.getMessage() for r in caplog.records)


async def test_reporting_withdrawn_raises_a_repair(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """Boditrax takes ``reporting`` away: a repair names it; granted again, it goes by itself.

    A start while it is missing fails setup with the scope named, without retries.
    """
    expect_log("lacks the scope reporting")
    expect_log("Config entry setup failed while fetching Riverside Gym data")
    boditrax.withhold_reporting = True
    await async_poll(hass, frozen_now, INTERVAL)
    assert set(_shown(hass).values()) == {"unavailable"}
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, f"missing_scope_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {
        "service": "Boditrax",
        "scope": "reporting",
        "account": "Riverside Gym",
    }
    await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "reporting" in str(entry.reason)
    boditrax.withhold_reporting = False
    await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    assert issues.async_get_issue(DOMAIN, f"missing_scope_{entry.entry_id}") is None
    assert _shown(hass) == _expected(_served(boditrax))


async def test_refused_secret_asks_for_another_credential(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """The secret is refused when the token runs out: reauth, where the stored credential is
    tried again, refused, and another one picked; the entry keeps its entities."""
    expect_log("Authentication failed while fetching Riverside Gym data")
    ws = await hass_ws_client(hass)  # signed in now: Home Assistant's own token expires too
    boditrax.refuse_secret = True
    await async_poll(hass, frozen_now, timedelta(minutes=31))
    assert set(_shown(hass).values()) == {"unavailable"}
    # Boditrax hands out a new secret; the user adds a credential with it.
    boditrax.refuse_secret = False
    renewed = boditrax.register_client(
        OAuth2Client(DEFAULT_CLIENT.client_id, "new-secret", scopes=ALL_SCOPES)
    )
    key = await _add_credential(ws, "Boditrax (new secret)", renewed)
    result = await reauth_flow(hass, entry)
    assert result["step_id"] == "reauth_application"
    assert result["description_placeholders"]["account"] == "Riverside Gym"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "pick_implementation"
    assert result["errors"] == {"base": "invalid_client"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": key}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data["auth_implementation"] == key
    assert _shown(hass) == _expected(_served(boditrax))


async def test_revoked_token_signs_in_again_with_the_same_credential(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """Boditrax revoked the token but not the secret: confirming the reauth is enough."""
    expect_log("Authentication failed while fetching Riverside Gym data")
    boditrax.revoke()
    await async_poll(hass, frozen_now, INTERVAL)
    result = await reauth_flow(hass, entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_switches_credential(
    hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """Reconfigure offers every Boditrax credential and keeps the entry."""
    backup = boditrax.register_client(
        OAuth2Client("backup@apps.boditrax.com", "backup-secret", scopes=ALL_SCOPES)
    )
    await async_import_client_credential(
        hass,
        DOMAIN,
        ClientCredential(backup.client_id, backup.client_secret, "Boditrax backup"),
        "bx_backup",
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["step_id"] == "pick_implementation"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": "bx_backup"}
    )
    assert result["reason"] == "reconfigured_application"
    assert entry.data["auth_implementation"] == "bx_backup"
    (grant,) = _credential_requests(boditrax)[-1:]
    assert grant["client_id"] == [backup.client_id]


async def test_facility_gone_on_reconfigure(
    hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """The facility no longer consents to the app: reconfigure cannot sign it in."""
    boditrax.facilities = {"f_2": Facility.generate("f_2", "Harbour Gym", seed=4, now=NOW)}
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["reason"] == "wrong_account"


async def test_diagnostics_without_secrets(
    hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """The download says what was read, not from where, with what, or who the facility is."""
    diagnostics = json.loads(json_dumps(await async_get_config_entry_diagnostics(hass, entry)))
    assert diagnostics["provider"] == "boditrax_facility"
    assert diagnostics["token"] == {"expires_at": entry.data["token"]["expires_at"]} | {
        key: entry.data["token"][key] for key in ("expires_in", "token_type", "scope")
    }
    assert diagnostics["poll_interval_seconds"] == 900
    assert diagnostics["values_present"] == dict.fromkeys(sorted(FACILITY_SENSORS), True)
    text = json.dumps(diagnostics)
    for secret in (
        entry.data["token"]["access_token"],
        DEFAULT_CLIENT.client_id,
        DEFAULT_CLIENT.client_secret,
        "f_1",
        "Riverside",
    ):
        assert secret not in text


async def test_tolerant_parsing(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Numbers as strings are read; missing or odd figures are unknown, odd machines skipped."""
    boditrax.fail(rewrite=numbers_as_strings, path=STATISTICS, times=1)
    await async_poll(hass, frozen_now, INTERVAL)
    assert _shown(hass) == _expected(_served(boditrax))
    odd = {
        "scans": {"today": "7", "thisweek": 12.0, "thismonth": -3},
        "members": "many",
        "machines": ["bx_1", {"name": "no id"}, {"id": "bx_2", "scans": {"today": "1,5"}}, 4],
    }
    boditrax.fail(200, json.dumps(odd), path=STATISTICS, times=1)
    await async_poll(hass, frozen_now, INTERVAL)
    assert _shown(hass) == {
        "scans_today": "7",
        "scans_this_week": "12",
        "scans_this_month": "unknown",
        "members_scanned_last_30_days": "unknown",
        "new_members_this_month": "unknown",
    }
    assert hass.states.get(f"{PREFIX}reception_scans_today").state == "unknown"
    assert hass.states.get(f"{PREFIX}studio_scans_today").state == "unknown"
    # A machine listed by its id alone is named by it.
    assert hass.states.get(f"{PREFIX}4_scans_today").state == "unknown"


@pytest.mark.parametrize(
    ("path", "body"),
    [(STATISTICS, "[]"), ("/rest/v2.10/facilities", "{}")],
)
async def test_wrong_shapes(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    expect_log: ExpectedLog,
    path: str,
    body: str,
) -> None:
    """A listing that is not a list cannot be added; statistics not an object retry later."""
    expect_log("Could not identify the Boditrax account")
    boditrax.fail(200, body, path=path, times=1)
    result = await _add(hass)
    if path == STATISTICS:
        assert result["result"].state is ConfigEntryState.SETUP_RETRY
    else:
        assert result["reason"] == "cannot_connect"


async def test_no_records_to_return(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """health_trackers.get_records on a facility: no records, said in words."""
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "get_records",
            {"config_entry_id": entry.entry_id, "start": (NOW - timedelta(days=1)).isoformat()},
            blocking=True,
            return_response=True,
        )
    assert raised.value.translation_key == "no_records"
    assert raised.value.translation_placeholders == {"account": "Riverside Gym"}


async def test_start_while_down_restores_no_figure(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A restart while Boditrax is down: time alone changes every figure, so none is shown from
    before; the first poll that answers brings them back, the machines' too."""
    await stop(hass, entry)
    boditrax.fail(503, "{}", path=STATISTICS)
    await start(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert set(_shown(hass).values()) == {"unavailable"}
    machine = hass.states.get(f"{PREFIX}reception_scans_today")
    assert machine is None or machine.state == "unavailable"
    boditrax.clear_faults()
    await async_poll(hass, frozen_now, INTERVAL)
    assert _shown(hass) == _expected(_served(boditrax))
    assert hass.states.get(f"{PREFIX}reception_scans_today").state == str(
        _served(boditrax)["machines"][0]["scans"]["today"]
    )
