"""Each new workout, scan and reading reaches Home Assistant once, as an event, oldest first.

Through Home Assistant against the fakes: records between polls, an outage, a restart from the
same storage, a reload and a reauth in between, a record deleted at the service, and an
account's first setup (its history is not new).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntry, ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest

from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from fakes import BACReading, FakeBACtrack, FakeBoditrax, FakeSportTracks, OAuth2Client, Reading
from fakes.sporttracks import Workout

from .conftest import (
    BACTRACK_USER_ID as USER_ID,
    NOW,
    AddAccount,
    AddBACtrack,
    Consent,
    ExpectedLog,
    Fired,
    async_poll,
    choose_way,
    start_reauth,
)

POLL = timedelta(minutes=15)
LIST = "/api/v2/fitnessActivities"
WORKOUT_EVENT = "event.sporttracks_16964_new_workout"


def _workout(workout_id: int, start: datetime, **values: Any) -> Workout:
    return Workout(
        id=workout_id,
        start=start,
        offset="Z",
        type="Running",
        name="tempo",
        duration=1800.0,
        distance=5000.0,
        calories_kj=1200,
        avg_heartrate=140,
        max_heartrate=170,
        **values,
    )


async def test_long_texts_are_cut(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A workout's name of 1,000 characters comes as its first 255, as a sensor's state would."""
    name = "x" * 1000
    workout = _workout(55, dt_util.utcnow() + timedelta(minutes=1))
    workout.name = name
    sporttracks.accounts["16964"].add_workout(workout)
    await async_poll(hass, frozen_now, POLL)
    assert [attributes["name"] for _, attributes in fired.events] == [name[:255]]


def _add(fake: FakeSportTracks, *workouts: tuple[int, datetime]) -> None:
    for workout_id, start in workouts:
        fake.accounts["16964"].add_workout(_workout(workout_id, start))


def _stored_cursor(hass_storage: dict[str, Any], entry: ConfigEntry) -> Any:
    return hass_storage[f"{DOMAIN}.{entry.entry_id}.events"]["data"]["cursor"]


async def test_first_setup_fires_nothing_for_history(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """The account's history is not new: no event; the cursor starts at the newest workout."""
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []
    state = hass.states.get(WORKOUT_EVENT)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert state.attributes["event_types"] == ["new_workout"]
    newest = sporttracks.accounts["16964"].workouts[0]
    assert _stored_cursor(hass_storage, entry)["id"] == str(newest.id)
    entity = er.async_get(hass).async_get(WORKOUT_EVENT)
    assert entity is not None
    assert entity.unique_id == "sporttracks_16964_new_workout"
    assert entity.translation_key == "new_workout"


async def test_several_workouts_between_polls(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Three new workouts: three events in the order they started, each with its detail.

    The probe, the list down to the known one, then each new one's detail, oldest first.
    """
    now = dt_util.utcnow()
    _add(sporttracks, (51, now + timedelta(minutes=3)), (52, now + timedelta(minutes=1)))
    _add(sporttracks, (53, now + timedelta(minutes=2)))
    sporttracks.requests.clear()
    await async_poll(hass, frozen_now, POLL)
    assert [event_type for event_type, _ in fired.events] == ["new_workout"] * 3
    first = fired.events[0][1]
    assert first["measured_at"] == (now + timedelta(minutes=1)).isoformat()
    assert {key: first[key] for key in ("id", "type", "name", "duration", "distance")} == {
        "id": "52",
        "type": "Running",
        "name": "tempo",
        "duration": 30.0,
        "distance": 5.0,
    }
    assert first["energy"] == round(1200 / 4.184, 1)
    assert (first["average_heart_rate"], first["maximum_heart_rate"]) == (140, 170)
    assert first["start"] == first["measured_at"]
    assert fired.ids() == ["52", "53", "51"]
    assert [r.path for r in sporttracks.requests] == [
        LIST,
        LIST,
        f"{LIST}/52",
        f"{LIST}/53",
        f"{LIST}/51",
    ]
    assert _stored_cursor(hass_storage, entry) == {
        "at": (now + timedelta(minutes=3)).isoformat(),
        "id": "51",
    }
    sporttracks.requests.clear()
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []
    assert [r.path for r in sporttracks.requests] == [LIST]  # idle again: one request


async def test_polls_at_the_same_time_hand_on_each_workout_once(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Two polls started together (an update_entity during a scheduled poll) read one after
    the other: the second reads from where the first left off, and each workout fires once."""
    _add(sporttracks, (61, dt_util.utcnow() + timedelta(minutes=1)))
    coordinator = entry.runtime_data
    triggered: list[str] = []
    hass.bus.async_listen(
        EVENT_STATE_CHANGED,
        lambda event: (
            triggered.append(event.data["new_state"].attributes.get("id"))
            if event.data["entity_id"] == WORKOUT_EVENT
            else None
        ),
    )
    sporttracks.requests.clear()
    await asyncio.gather(coordinator.async_refresh(), coordinator.async_refresh())
    await hass.async_block_till_done()
    assert fired.ids() == ["61"]
    assert triggered == ["61"]
    # The first poll reads the new workout (probe, list, detail); the second only probes.
    assert [r.path for r in sporttracks.requests] == [LIST, LIST, f"{LIST}/61", LIST]


async def test_outage_delivers_what_arrived_meanwhile(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """SportTracks down while two workouts arrive: both fire once when it is back."""
    expect_log("Error fetching SportTracks 16964 data")
    now = dt_util.utcnow()
    sporttracks.fail(503, "{}")
    await async_poll(hass, frozen_now, POLL)
    _add(sporttracks, (61, now + timedelta(minutes=20)))
    await async_poll(hass, frozen_now, POLL)
    _add(sporttracks, (62, now + timedelta(minutes=35)))
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(WORKOUT_EVENT).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert fired.ids() == []
    sporttracks.clear_faults()
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["61", "62"]
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []


async def test_restart_delivers_what_arrived_while_stopped(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Stopped for 10 days (past the 7-day list): what came meanwhile fires once at the start."""
    now = dt_util.utcnow()
    _add(sporttracks, (71, now + timedelta(minutes=5)))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["71"]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    stored = _stored_cursor(hass_storage, entry)
    assert stored["id"] == "71"
    _add(sporttracks, (72, now + timedelta(days=1)), (73, now + timedelta(days=9)))
    frozen_now.tick(timedelta(days=10))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert fired.ids() == ["72", "73"]
    assert _stored_cursor(hass_storage, entry)["id"] == "73"
    # Stopped again with nothing new: nothing fires again.
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []


async def test_reload_and_reauth_in_between(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    consent: Consent,
) -> None:
    """Neither a reload nor a new sign-in repeats or skips a workout."""
    now = dt_util.utcnow()
    _add(sporttracks, (81, now + timedelta(minutes=1)))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["81"]
    _add(sporttracks, (82, now + timedelta(minutes=20)))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert fired.ids() == ["82"]
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []
    _add(sporttracks, (83, now + timedelta(minutes=40)))
    result = await start_reauth(hass, entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await consent(result, "allow")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert fired.ids() == ["83"]
    _add(sporttracks, (84, now + timedelta(minutes=50)))
    await async_poll(hass, frozen_now, POLL)
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["84"]


async def test_a_poll_answered_while_the_account_unloads_skips_nothing(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    hass_storage: dict[str, Any],
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A poll still waiting for its answer when the account unloads (a reload after a reauth,
    a restart) finds its event entity gone: what it read is not skipped, the next start fires it.
    """
    cursor = _stored_cursor(hass_storage, entry)
    _add(sporttracks, (81, dt_util.utcnow() + timedelta(minutes=1)))
    sporttracks.fail(delay=0.5, times=1)
    poll = hass.async_create_task(entry.runtime_data.async_refresh())
    while not sporttracks.held:  # noqa: ASYNC110 - the request travels over real sockets
        await asyncio.sleep(0)
    assert await hass.config_entries.async_unload(entry.entry_id)
    frozen_now.tick(1)  # the clock is frozen: the fake answers once it has moved on
    await poll
    await hass.async_block_till_done()
    assert _stored_cursor(hass_storage, entry) == cursor
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert fired.ids() == ["81"]


async def test_deleted_workout_is_never_new(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Deleting the newest workout fires nothing; nor does one deleted before it was read."""
    now = dt_util.utcnow()
    account = sporttracks.accounts["16964"]
    _add(sporttracks, (91, now + timedelta(minutes=1)), (92, now + timedelta(minutes=2)))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["91", "92"]
    account.workouts = [workout for workout in account.workouts if workout.id != 92]
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []
    _add(sporttracks, (93, now + timedelta(minutes=20)))
    account.workouts = [workout for workout in account.workouts if workout.id != 93]
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []
    _add(sporttracks, (94, now + timedelta(minutes=40)))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["94"]


async def test_workout_in_the_same_second_uploaded_later(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A workout that started in the same second as the last one fired, uploaded after it fired.

    SportTracks lists the two in the order they were uploaded, so the one-item probe shows the
    workout already fired; the count tells the list changed, and the 7-day list has the new one.
    (The soak found this: its last two workouts per service share a second.)
    """
    start = dt_util.utcnow() + timedelta(minutes=5)
    _add(sporttracks, (95, start))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["95"]
    _add(sporttracks, (96, start))
    assert [w.id for w in sporttracks.accounts["16964"].workouts[:2]] == [95, 96]
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["96"]
    state = hass.states.get("sensor.sporttracks_16964_workout_start")
    assert state is not None
    assert state.state == start.isoformat()
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []


async def test_diagnostics_show_the_cursor_age_only(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
) -> None:
    """How old the newest delivered workout is, not which one it is."""
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    newest = sporttracks.accounts["16964"].workouts[0]
    age = (dt_util.utcnow() - newest.start).total_seconds()
    assert diagnostics["events"] == {"cursor_age_seconds": round(age), "pending": 0}
    assert str(newest.id) not in str(diagnostics)


async def test_removed_entry_leaves_no_cursor(
    hass: HomeAssistant, entry: ConfigEntry, hass_storage: dict[str, Any]
) -> None:
    """Deleting the account deletes its cursor files (records' and measurements')."""
    keys = {f"{DOMAIN}.{entry.entry_id}.{kind}" for kind in ("events", "measurements")}
    assert keys <= set(hass_storage)
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not keys & set(hass_storage)


async def test_each_new_health_metric_fires_once(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A weight and body fat measured together: one New measurement event, once, with both in
    the sensors' units, at the next read of the metrics (hourly); none for the months before
    the account was added, none again after a restart."""
    metrics = sporttracks.accounts["16964"].metrics
    at = (dt_util.utcnow() + timedelta(minutes=1)).replace(microsecond=0)
    metrics["weight"][at], metrics["bodyFat"][at] = 83.9, 0.205
    for _ in range(5):
        await async_poll(hass, frozen_now, POLL)
    ((kind, data),) = fired.events
    assert kind == "new_measurement"
    assert (data["id"], data["measured_at"]) == (at.isoformat(), at.isoformat())
    assert (data["weight"], data["body_fat"], data["resting_heart_rate"]) == (83.9, 20.5, None)
    assert sporttracks.count("/api/v2/metrics") == 2, "read at the start and an hour later"
    fired.events.clear()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    for _ in range(5):
        await async_poll(hass, frozen_now, POLL)
    assert fired.events == []


# -- Boditrax and BACtrack: the same, through their own fakes -----------------------------------


def _event_entity(hass: HomeAssistant, entry: ConfigEntry) -> str:
    (entity,) = [
        item
        for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if item.domain == "event"
    ]
    return entity.entity_id


async def test_boditrax_scans(
    hass: HomeAssistant,
    fired: Fired,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """No event for the history; then each new scan once, oldest first, in kg, % and kcal/d."""
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    entry = result["result"]
    await hass.async_block_till_done()
    assert _event_entity(hass, entry) == "event.jo_lifter_new_scan"
    assert fired.ids() == []
    member = boditrax.members["m_123"]
    now = dt_util.utcnow()
    scan = {"BodyWeight": 80.0, "FatMass": 16.0, "BasalMetabolicRatekJ": 7531.2}
    for number, minutes in ((3, 2), (1, 1), (2, 3)):
        member.add_reading(Reading(f"new_{number}", now + timedelta(minutes=minutes), scan))
    boditrax.requests.clear()
    await async_poll(hass, frozen_now, timedelta(minutes=30))
    assert [event_type for event_type, _ in fired.events] == ["new_scan"] * 3
    data = fired.events[0][1]
    assert (data["weight"], data["body_fat"], data["basal_metabolic_rate"]) == (80.0, 20.0, 1800.0)
    assert data["muscle_mass"] is None
    assert data["measured_at"] == (now + timedelta(minutes=1)).isoformat()
    assert fired.ids() == ["new_1", "new_3", "new_2"]
    assert [r.query for r in boditrax.requests if r.path.startswith("/rest")] == [
        {"limit": "1"},
        {"limit": "100"},
    ]
    await async_poll(hass, frozen_now, timedelta(minutes=30))
    assert fired.ids() == []


async def test_bactrack_readings(
    hass: HomeAssistant,
    fired: Fired,
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """No event for the history; then each new reading once, oldest first, in % BAC.

    Location and notes stay out of the event unless the user opted in to them.
    """
    entry = (await add_bactrack())["result"]
    assert fired.ids() == []
    user = bactrack.accounts[USER_ID]
    newest = user.readings[0].id
    now = dt_util.utcnow()
    for step in range(12):
        user.add_reading(
            BACReading(newest + 1 + step, now + timedelta(minutes=step), 0.05, 42.0, -71.0, "x")
        )
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert fired.events[0][0] == "new_reading"
    assert fired.events[0][1]["bac"] == 0.05
    assert fired.events[0][1]["measured_at"] == now.astimezone(UTC).isoformat()
    # 0.05 % at 0.015 % per hour: sober 3 h 20 min after the reading.
    sober_at = now + timedelta(hours=3, minutes=20)
    assert fired.events[0][1]["sober_at"] == sober_at.astimezone(UTC).isoformat()
    assert "latitude" not in fired.events[0][1]
    assert "notes" not in fired.events[0][1]
    assert fired.ids() == [str(newest + 1 + step) for step in range(12)]
    assert _event_entity(hass, entry) == "event.sam_new_reading"
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert fired.ids() == []


async def test_same_second_readings_by_number(
    hass: HomeAssistant,
    fired: Fired,
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Two readings of one second: reading 1000000 comes after 999999, also once 999999 fired.

    Ids that are numbers compare by value, not as text ("1000000" sorts before "999999").
    (The soak found this: the fake's reading ids pass 99999 during it.)
    """
    await add_bactrack()
    user = bactrack.accounts[USER_ID]
    taken = dt_util.utcnow() + timedelta(minutes=1)
    user.add_reading(BACReading(999_999, taken, 0.031))
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert fired.ids() == ["999999"]
    user.add_reading(BACReading(1_000_000, taken, 0.042))
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert fired.ids() == ["1000000"]
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert fired.ids() == []


async def test_bactrack_location_and_notes_with_the_option(
    hass: HomeAssistant,
    fired: Fired,
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """With *Show location and notes* on, a new reading's event says where and with what note."""
    entry = (await add_bactrack())["result"]
    hass.config_entries.async_update_entry(entry, options={"personal_data": True})
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    user = bactrack.accounts[USER_ID]
    reading = BACReading(user.readings[0].id + 1, dt_util.utcnow(), 0.04, 42.5, -71.25, "home")
    user.add_reading(reading)
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    ((_, data),) = fired.events
    assert (data["id"], data["latitude"], data["longitude"], data["notes"]) == (
        str(reading.id),
        42.5,
        -71.25,
        "home",
    )


async def test_update_entity_on_the_event_entity_fires_what_is_new(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Polling off: homeassistant.update_entity on the event entity reads and fires everything new."""
    hass.config_entries.async_update_entry(entry, pref_disable_polling=True)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    now = dt_util.utcnow()
    _add(sporttracks, (101, now + timedelta(minutes=1)), (102, now + timedelta(minutes=2)))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []
    assert await async_setup_component(hass, "homeassistant", {})
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": WORKOUT_EVENT}, blocking=True
    )
    await hass.async_block_till_done()
    assert fired.ids() == ["101", "102"]


async def test_boditrax_restart_after_many_scans(
    hass: HomeAssistant,
    fired: Fired,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """More scans while stopped than the first poll's 20: it reads on back to the last delivered."""
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    entry = result["result"]
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    member = boditrax.members["m_123"]
    now = dt_util.utcnow()
    for number in range(25):
        member.add_reading(
            Reading(f"late_{number:02}", now + timedelta(hours=number), {"BodyWeight": 79.0})
        )
    frozen_now.tick(timedelta(days=2))
    boditrax.requests.clear()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert fired.ids() == [f"late_{number:02}" for number in range(25)]
    assert [r.query for r in boditrax.requests if r.path == "/rest/v2.10/readings"] == [
        {"limit": "20"},
        {"limit": "100"},
    ]
    await async_poll(hass, frozen_now, timedelta(minutes=30))
    assert fired.ids() == []


async def test_bactrack_restart_after_days(
    hass: HomeAssistant,
    fired: Fired,
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Stopped for 3 days: readings from before the last 24 hours fire too, oldest first."""
    entry = (await add_bactrack())["result"]
    assert await hass.config_entries.async_unload(entry.entry_id)
    user = bactrack.accounts[USER_ID]
    newest = user.readings[0].id
    now = dt_util.utcnow()
    for step, hours in enumerate((2, 30, 50, 70)):
        user.add_reading(BACReading(newest + 1 + step, now + timedelta(hours=hours), 0.01))
    frozen_now.tick(timedelta(days=3))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert fired.ids() == [str(newest + 1 + step) for step in range(4)]
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert fired.ids() == []


async def test_reconfigure_in_between(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    consent: Consent,
) -> None:
    """Signing in with another credential (reconfigure) neither repeats nor skips a workout."""
    now = dt_util.utcnow()
    _add(sporttracks, (111, now + timedelta(minutes=1)))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["111"]
    backup = sporttracks.register_client(OAuth2Client("backup-client", "backup-secret"))
    await async_import_client_credential(
        hass,
        DOMAIN,
        ClientCredential(backup.client_id, backup.client_secret, "SportTracks backup"),
        "backup",
    )
    _add(sporttracks, (112, now + timedelta(minutes=20)))
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": "backup"}
    )
    result = await consent(result, "allow")
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert fired.ids() == ["112"]
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == []


async def test_disabled_event_entity_skips_records(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """While the event entity is disabled nothing fires, and nothing is saved up for later."""
    registry = er.async_get(hass)
    registry.async_update_entity(WORKOUT_EVENT, disabled_by=er.RegistryEntryDisabler.USER)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    now = dt_util.utcnow()
    _add(sporttracks, (121, now + timedelta(minutes=1)))
    await async_poll(hass, frozen_now, POLL)
    await async_poll(hass, frozen_now, POLL)
    assert _stored_cursor(hass_storage, entry)["id"] == "121"
    registry.async_update_entity(WORKOUT_EVENT, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    _add(sporttracks, (122, now + timedelta(minutes=40)))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["122"]


@pytest.mark.parametrize(
    "stored",
    [
        {"cursor": {"at": "yesterday", "id": "1"}},
        {"cursor": {"at": "2026-11-19T10:00:00", "id": "1"}},
        {"cursor": "at the end"},
        {"cursor": {"at": "2026-11-19T10:00:00+00:00"}},
    ],
)
async def test_unreadable_cursor_starts_at_the_newest(
    hass: HomeAssistant,
    fired: Fired,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    expect_log: ExpectedLog,
    stored: dict[str, Any],
) -> None:
    """A cursor file edited by hand or broken: no flood of old workouts, new ones still fire."""
    expect_log("Unreadable event cursor")
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass_storage[f"{DOMAIN}.{entry.entry_id}.events"]["data"] = stored
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert fired.ids() == []
    newest = sporttracks.accounts["16964"].workouts[0]
    assert _stored_cursor(hass_storage, entry)["id"] == str(newest.id)
    _add(sporttracks, (141, dt_util.utcnow() + timedelta(minutes=1)))
    await async_poll(hass, frozen_now, POLL)
    assert fired.ids() == ["141"]


async def test_an_account_added_again_shows_no_event_of_its_removed_entry(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Removed and added again in the same run, the account's event entity (same entity id)
    starts without an event: the last one was the removed entry's, this one fired nothing."""
    result = await add_account()
    entry: ConfigEntry = result["result"]
    sporttracks.accounts["16964"].add_workout(
        Workout(9_700_000, NOW + timedelta(minutes=1), "Z", "Running", "run", 1800.0, 5000.0)
    )
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(WORKOUT_EVENT).attributes["id"] == "9700000"  # type: ignore[union-attr]
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    await add_account()
    await hass.async_block_till_done()
    state = hass.states.get(WORKOUT_EVENT)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert "id" not in state.attributes
