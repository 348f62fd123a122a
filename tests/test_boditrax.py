"""Boditrax end to end against its fake: both ways of signing in, scans as sensors, scopes."""

from __future__ import annotations

from datetime import timedelta
import json
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.health_trackers.const import DOMAIN
from fakes import BoditraxMember, FakeBoditrax, OAuth2Client, Reading
from fakes.boditrax import DEFAULT_CLIENT

from .conftest import NOW, Consent, ExpectedLog, async_poll, choose_way, flow_message, reauth_flow
from .test_sensor import sensor_states

PREFIX = "sensor.jo_lifter_"
LINKED = {"username": "partner-user-42", "password": "partner-secret"}


@pytest.fixture
async def entry(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None, consent: Consent
) -> ConfigEntry:
    """A Boditrax member added through the authorization-code flow."""
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result["result"]


async def test_add_member(hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax) -> None:
    """The member becomes a loaded entry; the token request is form-encoded with the secret."""
    assert entry.unique_id == "boditrax_m_123"
    assert entry.title == "Jo Lifter"
    assert entry.state is ConfigEntryState.LOADED
    (token_request,) = [r for r in boditrax.requests if r.path == "/oauth/token"]
    assert token_request.method == "POST"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert entry.data["token"]["expires_in"] == 1800


async def test_sensors(
    hass: HomeAssistant, entry: ConfigEntry, snapshot: SnapshotAssertion
) -> None:
    """Every sensor of the latest scan; segmental masses exist but are disabled."""
    assert sensor_states(hass, entry) == snapshot
    registry = er.async_get(hass)
    segmental = registry.async_get(f"{PREFIX}left_arm_muscle_mass")
    assert segmental is not None
    assert segmental.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_values_follow_the_fake(
    hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """Derived values are computed from what the fake serves, not from constants."""
    scan = boditrax.members["m_123"].readings[0].measurements
    assert float(hass.states.get(f"{PREFIX}weight").state) == pytest.approx(scan["BodyWeight"])
    # Computed values keep one digit more than they are shown with (0.1 %, 1 kcal).
    assert hass.states.get(f"{PREFIX}body_fat").state == str(
        round(scan["FatMass"] / scan["BodyWeight"] * 100, 2)
    )
    assert hass.states.get(f"{PREFIX}body_water").state == str(
        round(scan["WaterMass"] / scan["BodyWeight"] * 100, 2)
    )
    assert hass.states.get(f"{PREFIX}basal_metabolic_rate").state == str(
        round(scan["BasalMetabolicRatekJ"] / 4.184, 1)
    )


async def test_missing_metric_keeps_last_value(
    hass: HomeAssistant,
    entry: ConfigEntry,
    boditrax: FakeBoditrax,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A scan without fat mass: weight updates, fat values stay and say when they were measured."""
    member = boditrax.members["m_123"]
    before = member.readings[0]
    member.add_reading(
        Reading("r_new", NOW + timedelta(minutes=10), {"BodyWeight": 80.0, "NewMetric": 1.0})
    )
    await async_poll(hass, frozen_now, timedelta(minutes=30))
    weight = hass.states.get(f"{PREFIX}weight")
    assert weight.state == "80.0"
    assert "measured_at" not in weight.attributes
    fat = hass.states.get(f"{PREFIX}fat_mass")
    assert float(fat.state) == pytest.approx(before.measurements["FatMass"])
    assert fat.attributes["measured_at"] == before.date.isoformat()
    body_fat = hass.states.get(f"{PREFIX}body_fat")
    assert float(body_fat.state) == round(before.measurements["FatMass"] / 80.0 * 100, 2)
    assert body_fat.attributes["measured_at"] == before.date.isoformat()
    assert hass.states.get(f"{PREFIX}scan_time").state == (NOW + timedelta(minutes=10)).isoformat()


async def test_export_style_values(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None, consent: Consent
) -> None:
    """Decimal commas and day-first dates without a zone are read as the export means them."""
    member = boditrax.members["m_123"]
    member.export_style = True
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    newest = member.readings[0]
    assert float(hass.states.get(f"{PREFIX}weight").state) == pytest.approx(
        newest.measurements["BodyWeight"]
    )
    assert hass.states.get(f"{PREFIX}scan_time").state == newest.date.isoformat()


async def test_member_known_by_id_only(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None, consent: Consent
) -> None:
    """A members collection that gives ids only: the entry is named after the service and id."""
    boditrax.fail(200, '["m_123"]', path="/rest/v2.10/members")
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    assert result["result"].title == "Boditrax m_123"
    await hass.async_block_till_done()
    assert hass.states.get("sensor.boditrax_m_123_weight") is not None


async def test_member_without_scans(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None, consent: Consent
) -> None:
    """A member who was never scanned loads with unknown values."""
    boditrax.members = {"m_9": BoditraxMember("m_9", "New")}
    boditrax.current_user = "m_9"
    await consent(await choose_way(hass, "boditrax"), "allow")
    await hass.async_block_till_done()
    assert hass.states.get("sensor.new_weight").state == "unknown"


async def test_missing_scope_raises_a_repair(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """An app without measurement_analysis: a repair names the scope; granting it clears it."""
    boditrax.register_client(
        OAuth2Client(DEFAULT_CLIENT.client_id, DEFAULT_CLIENT.client_secret, scopes=("front_end",))
    )
    expect_log("Config entry setup failed while fetching Jo Lifter data")
    expect_log("lacks the scope measurement_analysis")
    entry = (await consent(await choose_way(hass, "boditrax"), "allow"))["result"]
    await hass.async_block_till_done()
    # Retrying cannot help until Boditrax grants the scope: no retries, a repair says what to do.
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "measurement_analysis" in str(entry.reason)
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, f"missing_scope_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["scope"] == "measurement_analysis"
    requests = len(boditrax.requests)
    await async_poll(hass, frozen_now, timedelta(hours=2))
    assert len(boditrax.requests) == requests
    boditrax.register_client(DEFAULT_CLIENT)
    await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    assert issues.async_get_issue(DOMAIN, f"missing_scope_{entry.entry_id}") is None


async def test_repair_goes_with_its_entry(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
    expect_log: ExpectedLog,
) -> None:
    """Deleting an entry whose credential lacked a scope leaves no repair behind."""
    expect_log("Config entry setup failed while fetching Jo Lifter data")
    expect_log("lacks the scope measurement_analysis")
    boditrax.register_client(
        OAuth2Client(DEFAULT_CLIENT.client_id, DEFAULT_CLIENT.client_secret, scopes=("front_end",))
    )
    entry = (await consent(await choose_way(hass, "boditrax"), "allow"))["result"]
    await hass.async_block_till_done()
    issue_id = f"missing_scope_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await hass.config_entries.async_remove(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_app_without_member_scope_cannot_identify(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None, consent: Consent
) -> None:
    """Without front_end the member cannot be identified: the flow says so and creates nothing."""
    boditrax.register_client(
        OAuth2Client(
            DEFAULT_CLIENT.client_id, DEFAULT_CLIENT.client_secret, scopes=("measurement_analysis",)
        )
    )
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "missing_scope"
    assert await flow_message(hass, result) == (
        "Boditrax would not say whose account this is: your application credential lacks the "
        "scope front_end. Ask Boditrax to add front_end to your app, then add the account again."
    )
    assert not hass.config_entries.async_entries(DOMAIN)


@pytest.mark.usefixtures("current_request_with_host")
async def test_linked_account(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A partner app's linked account: checked before the entry exists; the secret is not kept or logged."""
    caplog.set_level(logging.DEBUG)
    result = await choose_way(hass, "boditrax_linked")
    assert result["step_id"] == "linked_account"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**LINKED, "password": "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_linked_account"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], LINKED)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == "boditrax_m_123"
    assert entry.data["linked_username"] == "partner-user-42"
    assert "partner-secret" not in str(entry.data)
    grants = [r for r in boditrax.requests if r.path == "/oauth/token"]
    assert [r.method for r in grants] == ["GET", "GET"]
    assert "client_secret" not in grants[-1].query
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert "partner-secret" not in caplog.text
    assert "wrong" not in [r.getMessage() for r in caplog.records]


@pytest.mark.usefixtures("current_request_with_host")
async def test_linked_account_service_down(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None
) -> None:
    """A token endpoint that is down is a retryable form error, not an abort."""
    result = await choose_way(hass, "boditrax_linked")
    boditrax.fail(503, "{}", scope="token", times=1)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], LINKED)
    assert result["errors"] == {"base": "cannot_connect"}
    await boditrax.stop()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], LINKED)
    assert result["errors"] == {"base": "cannot_connect"}


@pytest.mark.usefixtures("current_request_with_host")
async def test_linked_account_reauth(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """A revoked linked account asks for its secret again, with the username filled in."""
    expect_log("Authentication failed while fetching Jo Lifter data")
    result = await hass.config_entries.flow.async_configure(
        (await choose_way(hass, "boditrax_linked"))["flow_id"], LINKED
    )
    entry = result["result"]
    await hass.async_block_till_done()
    boditrax.revoke()
    await async_poll(hass, frozen_now, timedelta(minutes=31))
    result = await reauth_flow(hass, entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "linked_account"
    schema = result["data_schema"].schema
    username_key = next(key for key in schema if key == "username")
    assert username_key.default() == "partner-user-42"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], LINKED)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_sparse_and_odd_readings(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None, consent: Consent
) -> None:
    """Junk items are skipped, unreadable values dropped; what a scan has is shown, the rest unknown."""
    odd = [
        "junk",
        {"id": "r_bad", "date": "someday", "measurements": {"BodyWeight": 1}},
        {
            "id": "r_1",
            "date": "2026-11-19T08:00:00Z",
            "measurements": {"BodyWeight": "81,5", "FatMass": "n/a", "Shiny": 3},
        },
        {"id": "r_0", "date": "2026-11-01T08:00:00Z", "measurements": "none"},
    ]
    boditrax.fail(200, json.dumps(odd), path="/rest/v2.10/readings", times=1)
    await consent(await choose_way(hass, "boditrax"), "allow")
    await hass.async_block_till_done()
    assert hass.states.get(f"{PREFIX}weight").state == "81.5"
    for unknown in ("fat_mass", "body_fat", "basal_metabolic_rate", "phase_angle"):
        assert hass.states.get(f"{PREFIX}{unknown}").state == "unknown"


@pytest.mark.parametrize(
    ("path", "body"), [("/rest/v2.10/readings", "{}"), ("/rest/v2.10/members", "[]")]
)
async def test_wrong_shapes(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
    path: str,
    body: str,
    expect_log: ExpectedLog,
) -> None:
    """Answers of the wrong shape: no member means no entry; bad readings mean retry later."""
    expect_log("Could not identify the Boditrax account")
    boditrax.fail(200, body, path=path, times=1)
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    await hass.async_block_till_done()
    if path.endswith("members"):
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "cannot_connect"
    else:
        assert result["result"].state is ConfigEntryState.SETUP_RETRY


@pytest.mark.usefixtures("current_request_with_host")
async def test_linked_account_reconfigure(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None
) -> None:
    """Reconfiguring a linked account asks for its secret again, username filled in."""
    result = await hass.config_entries.flow.async_configure(
        (await choose_way(hass, "boditrax_linked"))["flow_id"], LINKED
    )
    entry = result["result"]
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["step_id"] == "linked_account"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], LINKED)
    assert result["reason"] == "reconfigured_linked"


@pytest.mark.usefixtures("current_request_with_host")
async def test_same_member_both_ways_aborts(
    hass: HomeAssistant, entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """The member added by sign-in cannot be added again as a linked account."""
    result = await hass.config_entries.flow.async_configure(
        (await choose_way(hass, "boditrax_linked"))["flow_id"], LINKED
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_token_without_expires_in(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None, consent: Consent
) -> None:
    """Boditrax's documented 1800 s stand in for a missing expires_in."""
    boditrax.include_expires_in = False
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    assert result["result"].data["token"]["expires_in"] == 1800
