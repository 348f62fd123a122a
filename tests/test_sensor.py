"""The sensors a SportTracks account gets, as a user sees them."""

from __future__ import annotations

from datetime import timedelta
import json

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.health_trackers.clients.sporttracks import SportTracksClient
from fakes import FakeSportTracks, SportTracksAccount
from fakes.sporttracks import Workout

from .conftest import NOW, AddAccount, async_poll

LIST = "/api/v2/fitnessActivities"

ATTRIBUTES = ("device_class", "state_class", "unit_of_measurement", "friendly_name", "icon")


def sensor_states(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, dict[str, object]]:
    """Entity id → state and the attributes users rely on, for every sensor of the entry."""
    registry = er.async_get(hass)
    result: dict[str, dict[str, object]] = {}
    for item in sorted(
        er.async_entries_for_config_entry(registry, entry.entry_id), key=lambda i: i.entity_id
    ):
        if item.disabled_by is not None:
            result[item.entity_id] = {"disabled_by": item.disabled_by, "unique_id": item.unique_id}
            continue
        state = hass.states.get(item.entity_id)
        assert state is not None
        result[item.entity_id] = {
            "state": state.state,
            "unique_id": item.unique_id,
            "translation_key": item.translation_key,
            **{key: state.attributes[key] for key in ATTRIBUTES if key in state.attributes},
        }
    return result


async def test_sensors(
    hass: HomeAssistant, entry: ConfigEntry, snapshot: SnapshotAssertion
) -> None:
    """Every sensor of the seeded account: values, units, classes, names."""
    assert sensor_states(hass, entry) == snapshot
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.identifiers == {("health_trackers", "sporttracks_16964")}
    assert device.name == "SportTracks 16964"
    assert device.manufacturer == "SportTracks"
    assert device.entry_type is dr.DeviceEntryType.SERVICE


async def test_quirky_workout_is_read_tolerantly(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> None:
    """Odd offsets, legacy privacy, blank name, no heart rate or calories: what exists is shown."""
    account = SportTracksAccount("5", "Quirky")
    account.add_workout(
        Workout(
            id=7,
            start=NOW - timedelta(hours=1),
            offset="-02:-30",
            type="Gym: Strength",
            name="",
            duration=2700.0,
            legacy_privacy=True,
        )
    )
    sporttracks.accounts = {"5": account}
    sporttracks.current_user = "5"
    await add_account()
    prefix = "sensor.sporttracks_5_"
    assert hass.states.get(f"{prefix}workout_start").state == "2026-11-20T11:00:00+00:00"
    assert hass.states.get(f"{prefix}workout_type").state == "Gym: Strength"
    assert hass.states.get(f"{prefix}workout_duration").state == "0.75"  # h: "45m"
    for missing in ("distance", "energy", "avg_heart_rate", "avg_speed"):
        assert hass.states.get(f"{prefix}workout_{missing}").state == "unknown"
    assert hass.states.get(f"{prefix}workouts_last_7_days").state == "1"
    assert hass.states.get(f"{prefix}distance_last_7_days").state == "0.0"


async def test_long_text_is_cut_to_what_a_state_holds(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 300-character workout type shows its first 255 characters instead of unknown."""
    account = SportTracksAccount("6", "Verbose")
    kind = "Running: " + "very " * 60
    account.add_workout(
        Workout(id=8, start=NOW - timedelta(hours=1), offset="Z", type=kind, name="", duration=60.0)
    )
    sporttracks.accounts = {"6": account}
    sporttracks.current_user = "6"
    await add_account()
    assert hass.states.get("sensor.sporttracks_6_workout_type").state == kind[:255]
    assert "longer than 255" not in caplog.text


async def test_account_without_workouts(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> None:
    """A new account with no history loads with unknown latest values and zero totals."""
    sporttracks.accounts = {"9": SportTracksAccount("9", "New")}
    sporttracks.current_user = "9"
    await add_account()
    assert hass.states.get("sensor.sporttracks_9_workout_type").state == "unknown"
    assert hass.states.get("sensor.sporttracks_9_workouts_last_7_days").state == "0"


def _busy_week(sporttracks: FakeSportTracks, workouts: int) -> None:
    """Account 3 with ``workouts`` runs in the last ``workouts`` hours, signed in."""
    account = SportTracksAccount.generate("3", "Busy", seed=3, count=0, now=NOW)
    for index in range(workouts):
        account.add_workout(
            Workout(
                id=index,
                start=NOW - timedelta(hours=index + 1),
                offset="Z",
                type="Running",
                name="run",
                duration=600.0,
                distance=1000.0,
            )
        )
    sporttracks.accounts = {"3": account}
    sporttracks.current_user = "3"


async def test_week_list_follows_pages(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """More workouts in a week than one page holds: every page is read."""
    _busy_week(sporttracks, 130)
    await add_account()
    assert hass.states.get("sensor.sporttracks_3_workouts_last_7_days").state == "130"
    assert hass.states.get("sensor.sporttracks_3_distance_last_7_days").state == "130.0"
    pages = [r.query.get("page") for r in sporttracks.requests if r.path == LIST]
    assert pages == [None, "1"]


async def test_list_item_without_link(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> None:
    """A newest item without a uri: what the list says is shown, nothing else is asked."""
    item = {
        "start_time": "2026-11-20T10:00:00Z",
        "type": "Running",
        "duration": "1200.00",
        "total_distance": "4000",
    }
    sporttracks.fail(
        200, json.dumps({"size": "1", "items": [item]}), times=1, path="/api/v2/fitnessActivities"
    )
    await add_account()
    prefix = "sensor.sporttracks_16964_"
    assert hass.states.get(f"{prefix}workout_type").state == "Running"
    assert hass.states.get(f"{prefix}workout_distance").state == "4.0"
    assert hass.states.get(f"{prefix}workout_energy").state == "unknown"


async def test_week_list_is_capped(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A runaway list stops after a fixed number of pages (20) and shows what it read."""
    monkeypatch.setattr(SportTracksClient, "page_size", 5)
    _busy_week(sporttracks, 130)
    await add_account()
    assert len([r for r in sporttracks.requests if r.path == LIST]) == 20
    assert hass.states.get("sensor.sporttracks_3_workouts_last_7_days").state == "100"


async def test_health_metrics(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Weight, body fat (SportTracks' fraction as %) and resting heart rate: the newest of each,
    saying when it was measured; a new value shows at the next hourly read."""
    held = sporttracks.accounts["16964"].metrics
    for sensor, metric, factor in (
        ("weight", "weight", 1),
        ("body_fat", "bodyFat", 100),
        ("resting_heart_rate", "restingHeartrate", 1),
    ):
        at, value = max(held[metric].items())
        state = hass.states.get(f"sensor.sporttracks_16964_{sensor}")
        assert state is not None, sensor
        assert float(state.state) == pytest.approx(value * factor)
        assert state.attributes["measured_at"] == at.isoformat()
    assert (
        hass.states.get("sensor.sporttracks_16964_body_fat").attributes[  # type: ignore[union-attr]
            "unit_of_measurement"
        ]
        == "%"
    )
    held["weight"][NOW + timedelta(minutes=5)] = 79.5
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert hass.states.get("sensor.sporttracks_16964_weight").state != "79.5"  # type: ignore[union-attr]
    for _ in range(3):
        await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert hass.states.get("sensor.sporttracks_16964_weight").state == "79.5"  # type: ignore[union-attr]
