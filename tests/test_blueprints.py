"""The shipped blueprints, used as a user would: an automation made from each, against the fakes.

Each file is loaded from blueprints/ through Home Assistant's automation integration, with the
user's inputs; a new record at the fake (or the time of day) makes it run, and the notification
it sends is the one a notify action would get.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
import shutil
from typing import Any
from urllib.parse import quote

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Event, HomeAssistant, ServiceCall, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util, yaml as yaml_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.health_trackers.const import DOMAIN
from fakes import BACReading, FakeBACtrack, FakeBoditrax, FakeSportTracks, Reading
from fakes.sporttracks import Workout

from .conftest import (
    BACTRACK_USER_ID,
    NOW,
    AddBACtrack,
    Consent,
    ExpectedLog,
    async_poll,
    choose_way,
)

REPOSITORY = Path(__file__).parent.parent
BLUEPRINTS = REPOSITORY / "blueprints" / "automation" / DOMAIN
GITHUB = "https://github.com/health-trackers/health_trackers/blob/main"
RAW = "https://raw.githubusercontent.com/health-trackers/health_trackers/main"
MY_IMPORT = "https://my.home-assistant.io/redirect/blueprint_import/?blueprint_url="
WORKOUT_EVENT = "event.sporttracks_16964_new_workout"
READING_EVENT = "event.sam_new_reading"
SCAN_TIME = "sensor.jo_lifter_scan_time"
SCAN_EVENT = "event.jo_lifter_new_scan"
SCALE = "sensor.bathroom_scale_weight"
"""Another integration's weight sensor (a smart scale's)."""
NOTIFY = "notify.phone"
TIME_ZONE = "Europe/Berlin"
"""The user's time zone: the notifications' times are local (NOW, 12:00 UTC, is 13:00 here)."""

type UseBlueprint = Callable[[str, dict[str, Any]], Awaitable[None]]


@pytest.fixture
async def use_blueprint(hass: HomeAssistant, tmp_path: Path) -> AsyncGenerator[UseBlueprint]:
    """Make an automation from a shipped blueprint with the user's inputs, as automations.yaml would.

    The blueprints sit in the configuration's blueprints folder, where an import puts them.
    Afterwards the automations are turned off: a time of day would stay scheduled past the test.
    """
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / DOMAIN)
    await hass.config.async_set_time_zone(TIME_ZONE)

    async def use(name: str, inputs: dict[str, Any]) -> None:
        automation = {"use_blueprint": {"path": f"{DOMAIN}/{name}", "input": inputs}}
        assert await async_setup_component(hass, "automation", {"automation": automation})
        await hass.async_block_till_done()

    yield use
    await hass.services.async_call("automation", "turn_off", {"entity_id": "all"}, blocking=True)


@pytest.fixture
def notifications(hass: HomeAssistant) -> list[ServiceCall]:
    """What the user's phone is sent, through its notify action ``notify.phone``."""
    return async_mock_service(hass, *NOTIFY.split("."))


@pytest.mark.parametrize("path", sorted(BLUEPRINTS.glob("*.yaml")), ids=lambda path: path.name)
def test_linked_from_the_readme(path: Path) -> None:
    """Each blueprint names its own file on GitHub, and the README links it for import."""
    blueprint = yaml_util.load_yaml(path)["blueprint"]
    relative = path.relative_to(REPOSITORY).as_posix()
    assert blueprint["source_url"] == f"{GITHUB}/{relative}"
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    assert f"({MY_IMPORT}{quote(f'{RAW}/{relative}', safe='')})" in readme


def sent(notifications: list[ServiceCall]) -> list[dict[str, Any]]:
    """Title and message of each notification sent so far; cleared."""
    data = [dict(call.data) for call in notifications]
    notifications.clear()
    return data


async def test_new_record_runs_once_per_record(
    hass: HomeAssistant,
    use_blueprint: UseBlueprint,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """new_record.yaml: its actions run once per workout, in order.

    Not for the history, not for the unavailable state of a reload or the state restored after it.
    """
    await use_blueprint(
        "new_record.yaml",
        {
            "event_entity": WORKOUT_EVENT,
            "actions": [
                {
                    "event": "workout_seen",
                    "event_data": {"id": "{{ record.id }}", "type": "{{ record.type }}"},
                }
            ],
        },
    )
    seen: list[str] = []

    @callback
    def note(event: Event[dict[str, Any]]) -> None:
        seen.append(str(event.data["id"]))  # templates render native types

    hass.bus.async_listen("workout_seen", note)
    account = sporttracks.accounts["16964"]
    for workout_id, minutes in ((131, 2), (132, 1)):
        account.add_workout(_workout(workout_id, NOW + timedelta(minutes=minutes), 1800, 5000))
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert seen == ["132", "131"]
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    account.add_workout(_workout(133, NOW + timedelta(minutes=20), 1800, 5000))
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert seen == ["132", "131", "133"]


def _workout(
    workout_id: int,
    start: datetime,
    duration: float,
    distance: float | None,
    kind: str = "Running",
) -> Workout:
    return Workout(
        id=workout_id,
        start=start,
        offset="Z",
        type=kind,
        name="session",
        duration=duration,
        distance=distance,
    )


async def test_new_workout_notify(
    hass: HomeAssistant,
    use_blueprint: UseBlueprint,
    notifications: list[ServiceCall],
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """One notification per new workout, oldest first; a gym session has no distance.

    Durations are moving time as h:mm, to the nearest minute. Nothing for the history or a reload.
    """
    await use_blueprint(
        "new_workout_notify.yaml", {"event_entity": WORKOUT_EVENT, "notify_action": NOTIFY}
    )
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert sent(notifications) == []
    account = sporttracks.accounts["16964"]
    account.add_workout(_workout(141, NOW + timedelta(minutes=3), 2712, None, "Gym: Strength"))
    account.add_workout(_workout(142, NOW + timedelta(minutes=1), 5420, 16000))
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert sent(notifications) == [
        {"title": "SportTracks 16964", "message": "New workout: Running, 16.00 km in 1:30."},
        {"title": "SportTracks 16964", "message": "New workout: Gym: Strength, 0:45."},
    ]
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert sent(notifications) == []


async def test_bac_above_threshold(
    hass: HomeAssistant,
    use_blueprint: UseBlueprint,
    notifications: list[ServiceCall],
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Only readings above the threshold (the default, 0.08 %), each with its own sober time.

    The last reading of the poll is lower: the sensor's estimate is its, the notification's is
    the 0.090 reading's (6 hours at 0.015 % per hour).
    """
    await add_bactrack()
    await use_blueprint(
        "bac_above_threshold.yaml", {"event_entity": READING_EVENT, "notify_action": NOTIFY}
    )
    user = bactrack.accounts[BACTRACK_USER_ID]
    newest = user.readings[0].id
    for step, bac in enumerate((0.05, 0.08, 0.09, 0.02), start=1):
        user.add_reading(BACReading(newest + step, NOW + timedelta(minutes=step), bac))
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert sent(notifications) == [
        {
            "title": "Sam",
            "message": "BAC 0.090 % at 13:03 (above 0.080 %). Estimated sober at 19:03.",
        }
    ]
    sober_at = hass.states.get("sensor.sam_estimated_sober_at")
    assert sober_at is not None
    assert dt_util.parse_datetime(sober_at.state) == NOW + timedelta(hours=1, minutes=24)


async def test_bac_at_or_below_threshold_sends_nothing(
    hass: HomeAssistant,
    use_blueprint: UseBlueprint,
    notifications: list[ServiceCall],
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A threshold of 0.1 %: readings of 0.095 and 0.100 send nothing, 0.101 does."""
    await add_bactrack()
    await use_blueprint(
        "bac_above_threshold.yaml",
        {"event_entity": READING_EVENT, "threshold": 0.1, "notify_action": NOTIFY},
    )
    user = bactrack.accounts[BACTRACK_USER_ID]
    newest = user.readings[0].id
    for step, bac in enumerate((0.095, 0.1), start=1):
        user.add_reading(BACReading(newest + step, NOW + timedelta(minutes=step), bac))
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert sent(notifications) == []
    user.add_reading(BACReading(newest + 3, NOW + timedelta(minutes=6), 0.101))
    await async_poll(hass, frozen_now, timedelta(minutes=5))
    assert [data["message"] for data in sent(notifications)] == [
        "BAC 0.101 % at 13:06 (above 0.100 %). Estimated sober at 19:50."
    ]


async def _at(hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime) -> None:
    """Let time run to ``when``: what is due meanwhile (polls, the time of day) runs."""
    freezer.move_to(when)
    async_fire_time_changed(hass, when)
    await hass.async_block_till_done(wait_background_tasks=True)


def _berlin(day: int, hour: int) -> datetime:
    """A time of November 2026 in the user's time zone."""
    return datetime(2026, 11, day, hour, tzinfo=dt_util.get_time_zone(TIME_ZONE))


async def test_no_scan_reminder(
    hass: HomeAssistant,
    use_blueprint: UseBlueprint,
    notifications: list[ServiceCall],
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """3 days without a scan, checked at 20:00: a reminder each day until the next scan.

    The last scan was on Wednesday 18 November, 13:00: on Friday at 20:00 it is 2 days and 7
    hours old (nothing), on Saturday 3 days and 7 hours (a reminder). After a new scan nothing;
    nor while Boditrax cannot be reached, and the automation logs no error then.
    """
    member = boditrax.members["m_123"]
    member.add_reading(Reading("last", NOW - timedelta(days=2), {"BodyWeight": 80.0}))
    await consent(await choose_way(hass, "boditrax"), "allow")
    await hass.async_block_till_done()
    await use_blueprint(
        "no_scan_reminder.yaml",
        {"scan_time_sensor": SCAN_TIME, "days": 3, "at": "20:00:00", "notify_action": NOTIFY},
    )
    await _at(hass, frozen_now, _berlin(20, 20))
    assert sent(notifications) == []
    await _at(hass, frozen_now, _berlin(21, 20))
    reminder = {
        "title": "Jo Lifter",
        "message": "No Boditrax scan for 3 days: the last one was on Wednesday 18 November.",
    }
    assert sent(notifications) == [reminder]
    await _at(hass, frozen_now, _berlin(22, 20))
    assert sent(notifications) == [
        reminder
        | {"message": "No Boditrax scan for 4 days: the last one was on Wednesday 18 November."}
    ]
    member.add_reading(Reading("new", _berlin(22, 21).astimezone(UTC), {"BodyWeight": 79.5}))
    await _at(hass, frozen_now, _berlin(22, 23))
    await _at(hass, frozen_now, _berlin(23, 20))
    assert sent(notifications) == []
    expect_log("Error fetching Jo Lifter data")
    boditrax.fail(503, "{}")
    await _at(hass, frozen_now, _berlin(23, 23))
    assert hass.states.get(SCAN_TIME).state == "unavailable"  # type: ignore[union-attr]
    await _at(hass, frozen_now, _berlin(30, 20))
    assert sent(notifications) == []


def _device(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """The account's device, as a blueprint's account picker gives it."""
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    return device.id


async def test_boditrax_scan_to_sporttracks(
    hass: HomeAssistant,
    use_blueprint: UseBlueprint,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Each new scan's weight and body fat reach SportTracks at the scan's time, once.

    A scan without body fat sends its weight alone; the scans the account had before it was
    added, and a reload, send nothing.
    """
    await consent(await choose_way(hass, "boditrax"), "allow")
    await hass.async_block_till_done()
    await use_blueprint(
        "boditrax_scan_to_sporttracks.yaml",
        {"scan_event": SCAN_EVENT, "sporttracks_account": _device(hass, entry)},
    )
    metrics = sporttracks.accounts["16964"].metrics
    before = {metric: dict(values) for metric, values in metrics.items()}
    member = boditrax.members["m_123"]
    taken = (NOW - timedelta(hours=2)).replace(microsecond=0)
    member.add_reading(Reading("r_new", taken, {"BodyWeight": 81.2, "FatMass": 16.4}))
    member.add_reading(Reading("r_newer", NOW - timedelta(hours=1), {"BodyWeight": 81.0}))
    await async_poll(hass, frozen_now, timedelta(minutes=30))
    scan_fat = 100 * 16.4 / 81.2
    assert metrics["weight"] == before["weight"] | {taken: 81.2, NOW - timedelta(hours=1): 81.0}
    assert metrics["bodyFat"] == before["bodyFat"] | {taken: pytest.approx(scan_fat / 100, 1e-3)}
    assert sporttracks.count("/api/v2/metrics", "POST") == 2
    boditrax_entry = next(e for e in hass.config_entries.async_entries(DOMAIN) if e is not entry)
    assert await hass.config_entries.async_reload(boditrax_entry.entry_id)
    await async_poll(hass, frozen_now, timedelta(minutes=30))
    assert sporttracks.count("/api/v2/metrics", "POST") == 2


async def test_scale_weight_to_sporttracks(
    hass: HomeAssistant,
    use_blueprint: UseBlueprint,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A scale's new weight, in pounds, reaches SportTracks in kilograms at the time it showed.

    Not the value shown when the sensor comes back, nor a weight below the minimum.
    """
    await use_blueprint(
        "scale_weight_to_sporttracks.yaml",
        {"weight_sensor": SCALE, "sporttracks_account": _device(hass, entry), "minimum": 50},
    )
    weights = sporttracks.accounts["16964"].metrics["weight"]
    before = dict(weights)
    pounds = {"unit_of_measurement": "lb", "device_class": "weight"}
    hass.states.async_set(SCALE, "180.2", pounds)
    await hass.async_block_till_done()
    first = NOW.replace(microsecond=0)
    frozen_now.tick(timedelta(minutes=3))
    hass.states.async_set(SCALE, "180.6", pounds)
    await hass.async_block_till_done()
    second = (NOW + timedelta(minutes=3)).replace(microsecond=0)
    for state in ("unavailable", "180.6", "12.5"):
        hass.states.async_set(SCALE, state, pounds)
        await hass.async_block_till_done()
    assert set(weights) - set(before) == {second}
    assert weights[second] == pytest.approx(180.6 * 0.45359237, abs=1e-3)
    assert first not in weights  # the sensor's first state: nothing to compare it with
