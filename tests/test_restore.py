"""Latest values survive restarts: shown at a start while the service is down, until it answers.

Through Home Assistant against the fakes: an account is added and read, Home Assistant stops
(the restore states go to storage and are read back, as at a real restart) and starts while the
fake fails; then the fake recovers. A new account, a refused sign-in and a missing scope at
start still fail the setup as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_mock_restore_state_shutdown_restart,
    mock_restore_cache_with_extra_data,
)

from custom_components.health_trackers.clients.api import REQUEST_TIMEOUT
from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from fakes import BACReading, FakeBACtrack, FakeBoditrax, FakeService, FakeSportTracks, Reading
from fakes.boditrax import DEFAULT_CLIENT as BODITRAX_CLIENT
from fakes.oauth2 import OAuth2Client
from fakes.sporttracks import Workout

from .conftest import (
    BACTRACK_USER_ID,
    NOW,
    AddAccount,
    AddBACtrack,
    ExpectedLog,
    Fired,
    async_poll,
    choose_way,
    reauth_flow,
)

LIST = "/api/v2/fitnessActivities"
SPORTTRACKS = "sensor.sporttracks_16964_"
WEEK = ("workouts_last_7_days", "distance_last_7_days", "workout_time_last_7_days")
"""SportTracks' 7-day figures: time alone changes them, so none is restored."""
DOWN_AT_START = "Fetching {} data failed at start"
RECOVERED = "Fetching {} data recovered"

Shown = dict[str, tuple[str, Any]]
"""Entity id → state and ``measured_at`` attribute."""


def shown(hass: HomeAssistant, entry: ConfigEntry) -> Shown:
    """What each sensor of the entry shows: its state and when its value was measured."""
    result: Shown = {}
    for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        if item.domain == "sensor" and (state := hass.states.get(item.entity_id)) is not None:
            result[item.entity_id] = (state.state, state.attributes.get("measured_at"))
    return result


async def stop(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Stop Home Assistant: the entry unloads, the restore states go to storage and back."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await async_mock_restore_state_shutdown_restart(hass)


async def start(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Start Home Assistant again: the entry sets up."""
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def start_while_timing_out(
    hass: HomeAssistant, entry: ConfigEntry, fake: FakeService, frozen_now: FrozenDateTimeFactory
) -> None:
    """Start while the fake holds the first request back until it times out."""
    fake.fail(delay=3600, times=1)
    setup = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
    while not fake.held:  # noqa: ASYNC110 - the request travels over real sockets
        await asyncio.sleep(0)
    frozen_now.tick(REQUEST_TIMEOUT + 1)  # the clock is frozen: move it past the deadline
    await setup
    await hass.async_block_till_done()


async def restart(
    hass: HomeAssistant, entry: ConfigEntry, while_stopped: Callable[[], object]
) -> None:
    """Stop Home Assistant, do ``while_stopped`` (a fault at the fake), start it again."""
    await stop(hass, entry)
    while_stopped()
    await start(hass, entry)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> int:
    """How many log lines contain ``text``."""
    return sum(text in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("fault", ["503", "timeout"])
async def test_sporttracks_values_survive_a_start_while_down(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    expect_log: ExpectedLog,
) -> None:
    """SportTracks down at start: the latest workout as before, the 7-day figures unavailable.

    The first poll that succeeds replaces them, and the workout done meanwhile fires once.
    """
    caplog.set_level(logging.INFO)
    before = shown(hass, entry)
    await stop(hass, entry)
    sporttracks.accounts["16964"].add_workout(
        Workout(
            id=31,
            start=NOW + timedelta(minutes=5),
            offset="Z",
            type="Rowing",
            name="",
            duration=1200.0,
        )
    )
    if fault == "timeout":
        await start_while_timing_out(hass, entry, sporttracks, frozen_now)
        sporttracks.fail(503, "{}")  # and down it stays
    else:
        sporttracks.fail(503, "{}")
        await start(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    after = shown(hass, entry)
    for entity_id, value in before.items():
        restored = (STATE_UNAVAILABLE, None) if entity_id.endswith(WEEK) else value
        assert after[entity_id] == restored, entity_id
    assert after[f"{SPORTTRACKS}workout_type"] == ("Running", None)
    assert hass.states.get("event.sporttracks_16964_new_workout").state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["last_update_success"] is False
    assert diagnostics["values_present"] is None
    assert logged(caplog, DOWN_AT_START.format("SportTracks 16964")) == 1

    await async_poll(hass, frozen_now, timedelta(minutes=15))  # still down: still the same
    assert shown(hass, entry) == after
    sporttracks.clear_faults()
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert hass.states.get(f"{SPORTTRACKS}workout_type").state == "Rowing"  # type: ignore[union-attr]
    assert hass.states.get(f"{SPORTTRACKS}workout_start").state == (  # type: ignore[union-attr]
        (NOW + timedelta(minutes=5)).isoformat()
    )
    assert int(hass.states.get(f"{SPORTTRACKS}workouts_last_7_days").state) == (  # type: ignore[union-attr]
        int(before[f"{SPORTTRACKS}workouts_last_7_days"][0]) + 1
    )
    assert fired.ids() == ["31"]
    assert logged(caplog, RECOVERED.format("SportTracks 16964")) == 1
    # Once polled, an outage makes the sensors unavailable, as before.
    expect_log("Error fetching SportTracks 16964 data")
    sporttracks.fail(503, "{}")
    caplog.clear()
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert {state for state, _ in shown(hass, entry).values()} == {STATE_UNAVAILABLE}
    assert logged(caplog, "Error fetching SportTracks 16964 data") == 1


async def test_boditrax_values_and_measured_at_survive_two_starts_while_down(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Any,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A value older than the latest scan keeps saying when it was measured, restart after restart."""
    entry = (await consent(await choose_way(hass, "boditrax"), "allow"))["result"]
    await hass.async_block_till_done()
    member = boditrax.members["m_123"]
    older = member.readings[0]
    member.add_reading(Reading("r_weight", NOW + timedelta(minutes=10), {"BodyWeight": 80.0}))
    await async_poll(hass, frozen_now, timedelta(minutes=30))
    before = shown(hass, entry)
    assert before["sensor.jo_lifter_fat_mass"][1] == older.date.isoformat()
    assert before["sensor.jo_lifter_weight"] == ("80.0", None)

    def down() -> None:
        boditrax.fail(500, "<html>down</html>", content_type="text/html")

    await restart(hass, entry, down)
    assert shown(hass, entry) == before
    await restart(hass, entry, down)
    assert shown(hass, entry) == before
    assert hass.states.get("sensor.jo_lifter_scan_time").state == (  # type: ignore[union-attr]
        (NOW + timedelta(minutes=10)).isoformat()
    )
    member.add_reading(
        Reading("r_full", NOW + timedelta(hours=2), {"BodyWeight": 79.0, "FatMass": 15.0})
    )
    boditrax.clear_faults()
    await async_poll(hass, frozen_now, timedelta(minutes=30))
    assert hass.states.get("sensor.jo_lifter_fat_mass").state == "15.0"  # type: ignore[union-attr]
    assert "measured_at" not in hass.states.get("sensor.jo_lifter_fat_mass").attributes  # type: ignore[union-attr]
    assert hass.states.get("sensor.jo_lifter_weight").state == "79.0"  # type: ignore[union-attr]


async def test_bactrack_values_survive_a_start_while_down(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """The latest reading, its time and the sober estimate as before; the 24-hour figures not."""
    entry = (await add_bactrack())["result"]
    before = shown(hass, entry)
    await restart(hass, entry, lambda: bactrack.fail(503, "{}"))
    after = shown(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    for key in ("last_bac_reading", "last_reading", "estimated_sober_at"):
        assert after[f"sensor.sam_{key}"] == before[f"sensor.sam_{key}"]
        assert after[f"sensor.sam_{key}"][0] != STATE_UNAVAILABLE
    for key in ("peak_bac_last_24_hours", "readings_last_24_hours"):
        assert after[f"sensor.sam_{key}"] == (STATE_UNAVAILABLE, None)
    user = bactrack.accounts[BACTRACK_USER_ID]
    user.add_reading(BACReading(user.readings[0].id + 1, dt_util.utcnow(), 0.02))
    bactrack.clear_faults()
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert hass.states.get("sensor.sam_last_bac_reading").state == "0.02"  # type: ignore[union-attr]
    assert hass.states.get("sensor.sam_readings_last_24_hours").state != STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_retry_after_at_start_is_honoured(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A 429 at start: the values from before, and no poll until the time SportTracks asked for."""
    before = shown(hass, entry)
    await restart(
        hass, entry, lambda: sporttracks.fail(429, "{}", headers={"Retry-After": "7200"}, times=1)
    )
    assert shown(hass, entry)[f"{SPORTTRACKS}workout_type"] == before[f"{SPORTTRACKS}workout_type"]
    sporttracks.requests.clear()
    await async_poll(hass, frozen_now, timedelta(minutes=119))
    assert not sporttracks.count(LIST)
    await async_poll(hass, frozen_now, timedelta(minutes=2))
    assert sporttracks.count(LIST)
    assert hass.states.get(f"{SPORTTRACKS}workouts_last_7_days").state != STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_what_another_version_stored(
    hass: HomeAssistant, entry: ConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """A value in another unit is left out; one without ``measured_at`` is shown, unknown too."""
    await stop(hass, entry)
    energy, kind = f"{SPORTTRACKS}workout_energy", f"{SPORTTRACKS}workout_type"
    heart_rate = f"{SPORTTRACKS}workout_avg_heart_rate"
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State(energy, "1200"), {"native_value": 1200.0, "native_unit_of_measurement": "kJ"}),
            (State(kind, "Yoga"), {"native_value": "Yoga", "native_unit_of_measurement": None}),
            (
                State(heart_rate, "unknown"),
                {"native_value": None, "native_unit_of_measurement": "bpm"},
            ),
        ],
    )
    sporttracks.fail(503, "{}")
    await start(hass, entry)
    assert shown(hass, entry)[energy] == (STATE_UNAVAILABLE, None)
    assert shown(hass, entry)[kind] == ("Yoga", None)
    assert shown(hass, entry)[heart_rate] == ("unknown", None)


async def test_first_start_after_an_update_while_down(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Nothing stored by the version before: unavailable, and after another restart not unknown."""
    before = shown(hass, entry)
    await stop(hass, entry)
    mock_restore_cache_with_extra_data(hass, [])
    sporttracks.fail(503, "{}")
    await start(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert {state for state, _ in shown(hass, entry).values()} == {STATE_UNAVAILABLE}
    await restart(hass, entry, lambda: None)
    assert {state for state, _ in shown(hass, entry).values()} == {STATE_UNAVAILABLE}
    sporttracks.clear_faults()
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert shown(hass, entry) == before


async def test_new_account_with_the_service_down_retries_setup(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """An account without entities yet has nothing to show: its setup is retried, as before."""
    sporttracks.fail(503, "{}", path=LIST)
    result = await add_account()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    sporttracks.clear_faults()
    await async_poll(hass, frozen_now, timedelta(minutes=1))
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(f"{SPORTTRACKS}workout_type").state == "Running"  # type: ignore[union-attr]


async def test_refused_sign_in_at_start_asks_for_reauth(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    expect_log: ExpectedLog,
) -> None:
    """Access revoked while Home Assistant was stopped: no values from before, a reauth instead."""
    expect_log("could not authenticate")
    await restart(hass, entry, sporttracks.revoke)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert (await reauth_flow(hass, entry))["step_id"] == "reauth_confirm"


async def test_missing_scope_at_start_fails_setup(
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Any,
    expect_log: ExpectedLog,
) -> None:
    """A scope withdrawn while stopped: the setup fails with its repair; retrying cannot help."""
    expect_log("Config entry setup failed while fetching Jo Lifter data")
    expect_log("lacks the scope measurement_analysis")
    entry = (await consent(await choose_way(hass, "boditrax"), "allow"))["result"]
    await hass.async_block_till_done()

    def withdraw() -> None:
        boditrax.register_client(
            OAuth2Client(
                BODITRAX_CLIENT.client_id, BODITRAX_CLIENT.client_secret, scopes=("front_end",)
            )
        )

    await restart(hass, entry, withdraw)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"missing_scope_{entry.entry_id}")
