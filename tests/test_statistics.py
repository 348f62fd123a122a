"""The whole history in long-term statistics, read back from the recorder hour by hour.

Each service's account is added the way a user adds it; its backfill and window run against the
fake, and every statistic is compared with what the fake holds, computed here on its own: per
UTC hour, the change of each total and the mean, min and max of each measure, the latter in the
statistics of the measure's sensor up to the hour the account was added.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticData
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    async_import_statistics,
    list_statistic_ids,
    statistics_during_period,
)
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.components.sensor import SensorStateClass
from homeassistant.config_entries import ConfigEntry, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.health_trackers.compat import statistic_metadata
from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from custom_components.health_trackers.history import history_issue_id
from custom_components.health_trackers.providers import PROVIDERS
from custom_components.health_trackers.providers.base import Provider
from fakes import FakeBACtrack, FakeBoditrax, FakeSportTracks
from fakes.sporttracks import Workout

from .conftest import NOW, AddAccount, AddBACtrack, Consent, async_poll, choose_way
from .scales import SCALES

SPORTTRACKS = "health_trackers:sporttracks_16964"
BACTRACK = "health_trackers:bactrack_10261"
FOREVER = NOW - timedelta(days=3660)

Hourly = dict[datetime, float]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder before Home Assistant's test instance, then our integration."""


def hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def totals(
    items: Iterable[Any], at: Callable[[Any], datetime], value: Callable[[Any], float | None]
) -> Hourly:
    """Per UTC hour, the total of ``value`` over ``items`` (hours without a value left out)."""
    found: dict[datetime, float] = defaultdict(float)
    for item in items:
        if (number := value(item)) is not None:
            found[hour(at(item))] += number
    return {start: round(total, 6) for start, total in found.items()}


def means(
    items: Iterable[Any], at: Callable[[Any], datetime], value: Callable[[Any], float | None]
) -> dict[datetime, tuple[float, float, float]]:
    """Per UTC hour, the mean, min and max of ``value`` over ``items``."""
    found: dict[datetime, list[float]] = defaultdict(list)
    for item in items:
        if (number := value(item)) is not None:
            found[hour(at(item))].append(number)
    return {
        start: (round(sum(values) / len(values), 6), min(values), max(values))
        for start, values in found.items()
    }


async def rows(hass: HomeAssistant, statistic_id: str, types: set[str]) -> list[dict[str, Any]]:
    """Every hourly row of a statistic, oldest first."""
    await async_wait_recording_done(hass)
    found = await hass.async_add_executor_job(
        statistics_during_period, hass, FOREVER, None, {statistic_id}, "hour", None, types
    )
    return found.get(statistic_id, [])


async def changes(hass: HomeAssistant, statistic_id: str) -> Hourly:
    """Per hour, how much a summed statistic grew (hours it did not are left out)."""
    found = await rows(hass, statistic_id, {"change", "sum"})
    sums = [row["sum"] for row in found]
    assert sums == sorted(sums), "a running sum never falls"
    return {
        datetime.fromtimestamp(row["start"], UTC): round(row["change"], 6)
        for row in found
        if round(row["change"], 6)
    }


async def hourly_means(
    hass: HomeAssistant, statistic_id: str
) -> dict[datetime, tuple[float, float, float]]:
    found = await rows(hass, statistic_id, {"mean", "min", "max"})
    return {
        datetime.fromtimestamp(row["start"], UTC): (round(row["mean"], 6), row["min"], row["max"])
        for row in found
        if row["mean"] is not None
    }


def workouts(fake: FakeSportTracks) -> list[Workout]:
    return fake.accounts["16964"].workouts


def expect_workouts(fake: FakeSportTracks) -> dict[str, Hourly]:
    items = workouts(fake)
    start: Callable[[Workout], datetime] = lambda workout: workout.start  # noqa: E731
    return {
        "workouts": totals(items, start, lambda workout: 1.0),
        "workout_distance": totals(
            items, start, lambda w: None if w.distance is None else round(w.distance, 2) / 1000
        ),
        "workout_moving_time": totals(items, start, lambda w: round(w.duration, 2) / 3600),
        "workout_energy": totals(
            items, start, lambda w: None if w.calories_kj is None else w.calories_kj / 4.184
        ),
    }


async def history_done(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, Any]:
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    history: dict[str, Any] = diagnostics["history"]
    assert history["state"] == "done", history
    return history


async def added(hass: HomeAssistant, result: ConfigFlowResult) -> ConfigEntry:
    """The entry a flow created, once its setup and background work (the import) are done."""
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done(wait_background_tasks=True)
    entry: ConfigEntry = result["result"]
    return entry


@pytest.fixture
async def sporttracks_entry(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
) -> ConfigEntry:
    return await added(hass, await add_account())


async def test_workouts_hour_by_hour(
    hass: HomeAssistant, sporttracks_entry: ConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """Count, distance and moving time of every workout land in the hour it started, as sums."""
    history = await history_done(hass, sporttracks_entry)
    expected = expect_workouts(sporttracks)
    assert history["records"] + history["window_records"] == len(workouts(sporttracks))
    for key, hourly in expected.items():
        assert await changes(hass, f"{SPORTTRACKS}_{key}") == hourly, key
    ids = await hass.async_add_executor_job(list_statistic_ids, hass)
    metadata = {item["statistic_id"]: item for item in ids if item["source"] == "health_trackers"}
    assert metadata[f"{SPORTTRACKS}_workout_distance"]["statistics_unit_of_measurement"] == "km"
    assert (
        metadata[f"{SPORTTRACKS}_workout_distance"]["name"]
        == "SportTracks 16964 Distance of all workouts"
    )
    assert metadata[f"{SPORTTRACKS}_workout_moving_time"]["statistics_unit_of_measurement"] == "h"
    assert metadata[f"{SPORTTRACKS}_workouts"]["has_sum"] is True


async def test_new_workouts_join_their_hours_in_the_same_poll(
    hass: HomeAssistant,
    sporttracks_entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A workout found by a poll is in the statistics after that poll, with no extra request."""
    await history_done(hass, sporttracks_entry)
    account = sporttracks.accounts["16964"]
    newest = account.workouts[0]
    for minutes in (5, 10):
        account.add_workout(
            Workout(
                id=9_000_000 + minutes,
                start=NOW + timedelta(minutes=minutes),
                offset="Z",
                type="Running",
                name="new",
                duration=1800.0,
                distance=5000.0,
            )
        )
    assert newest is not account.workouts[0]
    sporttracks.requests.clear()
    await async_poll(hass, freezer, timedelta(minutes=15))
    assert (
        await changes(hass, f"{SPORTTRACKS}_workouts") == expect_workouts(sporttracks)["workouts"]
    )
    assert (
        await changes(hass, f"{SPORTTRACKS}_workout_distance")
        == expect_workouts(sporttracks)["workout_distance"]
    )


async def test_an_edited_and_a_deleted_workout_are_corrected_by_the_daily_read(
    hass: HomeAssistant,
    sporttracks_entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Within the re-read window (7 days), the next daily read fixes the hours of what changed."""
    await history_done(hass, sporttracks_entry)
    account = sporttracks.accounts["16964"]
    recent = [w for w in account.workouts if w.start > NOW - timedelta(days=6)]
    assert len(recent) >= 2, "the seed has workouts in the window"
    recent[0].distance = (recent[0].distance or 0) + 1000
    account.workouts.remove(recent[1])
    await async_poll(hass, freezer, timedelta(days=1, minutes=1))
    expected = expect_workouts(sporttracks)
    for key, hourly in expected.items():
        assert await changes(hass, f"{SPORTTRACKS}_{key}") == hourly, key


async def test_a_start_while_the_service_is_down_imports_once_it_answers(
    hass: HomeAssistant,
    sporttracks_entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Set up with SportTracks down, the history waits for its first answer: no failed imports,
    no repair; then the start's read counts the workout done meanwhile, once."""
    await history_done(hass, sporttracks_entry)
    assert await hass.config_entries.async_unload(sporttracks_entry.entry_id)
    sporttracks.accounts["16964"].add_workout(
        Workout(
            id=9_100_000,
            start=NOW + timedelta(minutes=5),
            offset="Z",
            type="Rowing",
            name="meanwhile",
            duration=1200.0,
            distance=3000.0,
        )
    )
    sporttracks.fail(503, "{}")
    await hass.config_entries.async_setup(sporttracks_entry.entry_id)
    for _ in range(3):
        await async_poll(hass, freezer, timedelta(minutes=15))
    diagnostics = await async_get_config_entry_diagnostics(hass, sporttracks_entry)
    assert diagnostics["last_update_success"] is False
    assert diagnostics["history"]["failures"] == 0
    assert not ir.async_get(hass).async_get_issue(
        DOMAIN, history_issue_id(sporttracks_entry.entry_id)
    )
    sporttracks.clear_faults()
    await async_poll(hass, freezer, timedelta(minutes=15))
    await hass.async_block_till_done(wait_background_tasks=True)
    for key, hourly in expect_workouts(sporttracks).items():
        assert await changes(hass, f"{SPORTTRACKS}_{key}") == hourly, key


async def test_restart_in_the_middle_of_a_backfill_counts_nothing_twice(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopped after its first page, the backfill goes on from there after a reload; the log
    says so at info level (the README: hidden unless asked for)."""
    caplog.set_level(logging.INFO)
    account = sporttracks.accounts["16964"]
    add_old_workouts(sporttracks, 250)
    # The backfill's second page (the only list request with page=1) answers 503.
    outage = sporttracks.fail(503, path="/api/v2/fitnessActivities", query={"page": "1"})
    entry = await added(hass, await add_account())
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["history"]["state"] == "waiting"
    assert 0 < diagnostics["history"]["records"] < len(account.workouts)
    sporttracks.faults.remove(outage)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await history_done(hass, entry)
    for key, hourly in expect_workouts(sporttracks).items():
        assert await changes(hass, f"{SPORTTRACKS}_{key}") == hourly, key
    said = [r for r in caplog.records if r.getMessage().startswith("History of SportTracks 16964")]
    assert [r.getMessage().split(":")[1].strip() for r in said] == [
        "import started (0 records imported before)",
        f"import started ({diagnostics['history']['records']} records imported before)",
        "import done",
    ]
    assert {r.levelno for r in said} == {logging.INFO}


async def test_a_poll_while_the_backfill_ends_is_counted_once(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A poll's rows written while the backfill's end is being saved are not raised twice.

    The backfill ends by raising every running sum by the history's total. The store's last
    save is held until a poll has found a new workout and written its hours; the sums then
    still match the fake's workouts hour by hour.
    """
    held, release = asyncio.Event(), asyncio.Event()
    save = Store.async_save

    async def held_at_the_end(store: Store[Any], data: Any) -> None:
        if store.key.endswith(".history") and data["backfill"]["done"] and not release.is_set():
            held.set()
            await release.wait()
        await save(store, data)

    monkeypatch.setattr(Store, "async_save", held_at_the_end)
    result = await add_account()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: ConfigEntry = result["result"]
    await asyncio.wait_for(held.wait(), 30)
    sporttracks.accounts["16964"].add_workout(
        Workout(
            id=9_200_000,
            start=NOW + timedelta(minutes=5),
            offset="Z",
            type="Running",
            name="during the save",
            duration=1800.0,
            distance=5000.0,
        )
    )
    freezer.tick(timedelta(minutes=15))
    await entry.runtime_data.async_refresh()
    assert entry.runtime_data.last_update_success
    release.set()
    await hass.async_block_till_done(wait_background_tasks=True)
    await history_done(hass, entry)
    for key, hourly in expect_workouts(sporttracks).items():
        assert await changes(hass, f"{SPORTTRACKS}_{key}") == hourly, key


def add_old_workouts(fake: FakeSportTracks, count: int) -> None:
    """``count`` workouts before the seeded ones, 7 hours apart: several pages of backfill."""
    account = fake.accounts["16964"]
    base = account.workouts[-1].start
    for index in range(count):
        account.workouts.append(
            Workout(
                id=5_000_000 + index,
                start=base - timedelta(hours=7 * (index + 1), minutes=index % 60),
                offset="-02:-30",
                type="Cycling",
                name="old",
                duration=3600.0 + index,
                distance=20_000.0 + index,
            )
        )


async def repair_text(hass: HomeAssistant, issue: ir.IssueEntry) -> str:
    """What the repair's dialog says, its placeholders filled."""
    strings = await async_get_translations(hass, "en", "issues", [DOMAIN])
    template = strings[
        f"component.{DOMAIN}.issues.{issue.translation_key}.fix_flow.step.confirm.description"
    ]
    return template.format(**(issue.translation_placeholders or {}))


async def test_a_failing_import_raises_a_repair_that_tries_again_now(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After three failures in a row a repair says what failed and what to do; "Submit" tries
    again at once: failing again, the repair comes back; succeeding, it goes and every hour
    is counted once."""
    assert await async_setup_component(hass, "repairs", {})
    add_old_workouts(sporttracks, 600)
    # Every backfill run reads one page, then its second page (page=1) answers 503.
    outage = sporttracks.fail(503, path="/api/v2/fitnessActivities", query={"page": "1"})
    entry = await added(hass, await add_account())
    issue_id = history_issue_id(entry.entry_id)
    issues = ir.async_get(hass)
    await async_poll(hass, freezer, timedelta(seconds=61))
    assert issues.async_get_issue(DOMAIN, issue_id) is None, "two failures: no repair yet"
    await async_poll(hass, freezer, timedelta(seconds=301))
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    text = await repair_text(hass, issue)
    assert "failed 3 times in a row" in text
    assert (
        "The last error: SportTracks is unavailable: GET /api/v2/fitnessActivities answered 503."
        in text
    )
    assert "re-authenticate SportTracks 16964" in text
    assert "tries again by itself in 15 min" in text

    flows = repairs_flow_manager(hass)
    assert flows is not None
    requests = len(sporttracks.requests)
    result = await flows.async_init(DOMAIN, data={"issue_id": issue_id})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == issue.translation_placeholders
    result = await flows.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(sporttracks.requests) > requests, "tried again without waiting"
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None, "failed again: the repair is back"
    assert "failed 4 times in a row" in await repair_text(hass, issue)
    assert "tries again by itself in 60 min" in await repair_text(hass, issue)

    sporttracks.faults.remove(outage)
    result = await flows.async_init(DOMAIN, data={"issue_id": issue_id})
    result = await flows.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    await history_done(hass, entry)
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    for key, hourly in expect_workouts(sporttracks).items():
        assert await changes(hass, f"{SPORTTRACKS}_{key}") == hourly, key


async def test_the_repair_goes_with_an_unloaded_account(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Unloaded, an account imports nothing and offers no repair; a dialog left open says so."""
    assert await async_setup_component(hass, "repairs", {})
    add_old_workouts(sporttracks, 400)
    sporttracks.fail(503, path="/api/v2/fitnessActivities", query={"page": "1"})
    entry = await added(hass, await add_account())
    issue_id = history_issue_id(entry.entry_id)
    for seconds in (61, 301):
        await async_poll(hass, freezer, timedelta(seconds=seconds))
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    flows = repairs_flow_manager(hass)
    assert flows is not None
    result = await flows.async_init(DOMAIN, data={"issue_id": issue_id})
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    result = await flows.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"
    requests = len(sporttracks.requests)
    await async_poll(hass, freezer, timedelta(hours=2))
    assert len(sporttracks.requests) == requests


@pytest.fixture
async def boditrax_entry(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
) -> ConfigEntry:
    return await added(hass, await consent(await choose_way(hass, "boditrax"), "allow"))


def sensor_of(hass: HomeAssistant, unique_id: str) -> str:
    """The entity id of the sensor with ``unique_id``."""
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def before_the_sensors(
    hourly: dict[datetime, tuple[float, float, float]],
) -> dict[datetime, tuple[float, float, float]]:
    """The hours before the account was added (at ``NOW``): the sensor recorded the later ones."""
    return {start: value for start, value in hourly.items() if start < NOW}


async def external_ids(hass: HomeAssistant) -> set[str]:
    ids = await hass.async_add_executor_job(list_statistic_ids, hass)
    return {item["statistic_id"] for item in ids if item["source"] == DOMAIN}


@pytest.mark.parametrize(
    "provider", [*PROVIDERS.values(), SCALES], ids=[*PROVIDERS, SCALES.service]
)
def test_every_measure_has_its_sensor(provider: Provider[Any, Any]) -> None:
    """A measure's history goes into the statistics of the sensor of its key: one that keeps
    statistics (a measurement), in the same unit."""
    sensors = {description.key: description for description in provider.sensors}
    for statistic in (*provider.statistics, *provider.measurement_statistics):
        if not statistic.summed:
            sensor = sensors[statistic.key]
            assert sensor.state_class is SensorStateClass.MEASUREMENT, statistic.key
            assert sensor.native_unit_of_measurement == statistic.unit, statistic.key


async def test_scans_in_their_sensors_statistics(
    hass: HomeAssistant, boditrax_entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """Each scan's weight and score: mean, min and max in the hour it was taken, in the
    statistics of the sensor a person opens; no second series of the same measure."""
    history = await history_done(hass, boditrax_entry)
    assert history["sensors_since"] == NOW.isoformat(), "the hour the account was added"
    scans = boditrax.members["m_123"].readings
    for key, metric in (("weight", "BodyWeight"), ("boditrax_score", "BoditraxScore")):
        expected = means(
            scans, lambda scan: scan.date, lambda scan, m=metric: scan.measurements.get(m)
        )
        assert len(before_the_sensors(expected)) > 10, "the seed has years of scans"
        sensor = sensor_of(hass, f"boditrax_m_123_{key}")
        assert await hourly_means(hass, sensor) == before_the_sensors(expected), key
    ids = await hass.async_add_executor_job(list_statistic_ids, hass)
    weight = next(item for item in ids if item["statistic_id"] == "sensor.jo_lifter_weight")
    assert weight["source"] == "recorder"
    assert weight["statistics_unit_of_measurement"] == "kg"
    assert weight["has_mean"] is True
    assert weight["name"] is None, "named as the sensor"
    assert await external_ids(hass) == set(), "a member has measures only"


async def test_readings_in_the_sensor_and_counted(
    hass: HomeAssistant,
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
) -> None:
    """BAC: mean and max per hour in the BAC sensor's statistics; the count of readings as a sum."""
    entry = await added(hass, await add_bactrack())
    await history_done(hass, entry)
    readings = bactrack.accounts[10261].readings
    expected = means(readings, lambda reading: reading.timestamp, lambda reading: reading.bac)
    sensor = sensor_of(hass, "bactrack_10261_bac")
    assert await hourly_means(hass, sensor) == before_the_sensors(expected)
    count = totals(readings, lambda reading: reading.timestamp, lambda reading: 1.0)
    assert await changes(hass, f"{BACTRACK}_readings") == count
    assert await external_ids(hass) == {f"{BACTRACK}_readings"}


async def test_the_recorder_goes_on_from_the_imported_hours(
    hass: HomeAssistant,
    boditrax_entry: ConfigEntry,
    boditrax: FakeBoditrax,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hours since the account was added are the recorder's, compiled from the sensor's
    state: a scan found then is the sensor's, the imported hours stay, no row is written twice."""
    await history_done(hass, boditrax_entry)
    sensor = sensor_of(hass, "boditrax_m_123_weight")
    imported = await hourly_means(hass, sensor)
    before = float(hass.states.get(sensor).state)  # type: ignore[union-attr]
    boditrax.add_record("m_123", NOW + timedelta(minutes=10))
    await async_poll(hass, freezer, timedelta(minutes=30))
    after = float(hass.states.get(sensor).state)  # type: ignore[union-attr]
    assert after < before
    freezer.tick(timedelta(minutes=31))
    for minutes in range(0, 60, 5):
        do_adhoc_statistics(hass, start=NOW + timedelta(minutes=minutes))
    await async_wait_recording_done(hass)
    compiled = await hourly_means(hass, sensor)
    mean, low, high = compiled.pop(NOW)
    assert compiled == imported
    assert (low, high) == (after, before)
    assert after < mean < before, "time-weighted: the scan's value from the poll on"
    assert "Unexpected exception" not in caplog.text
    assert "IntegrityError" not in caplog.text


async def test_statistics_kept_in_pounds_get_pounds(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    boditrax: FakeBoditrax,
    boditrax_credential: None,
    consent: Consent,
) -> None:
    """A weight sensor whose statistics are in lb (the user's display unit) is imported in lb:
    read back in kg (the sensor's unit), every hour holds the scans' weight."""
    before = NOW - timedelta(days=3660)
    async_import_statistics(
        hass,
        statistic_metadata(
            statistic_id="sensor.jo_lifter_weight",
            source="recorder",
            name=None,
            unit="lb",
            summed=False,
        ),
        [StatisticData(start=hour(before), mean=150.0, min=150.0, max=150.0)],
    )
    er.async_get(hass).async_get_or_create(
        "sensor", DOMAIN, "boditrax_m_123_weight", suggested_object_id="jo_lifter_weight"
    )
    entry = await added(hass, await consent(await choose_way(hass, "boditrax"), "allow"))
    await history_done(hass, entry)
    scans = boditrax.members["m_123"].readings
    kilograms = means(scans, lambda scan: scan.date, lambda scan: scan.measurements["BodyWeight"])
    read_back = await hourly_means(hass, "sensor.jo_lifter_weight")
    assert read_back.pop(hour(before)) == pytest.approx((68.038856,) * 3)
    assert read_back.keys() == before_the_sensors(kilograms).keys()
    for start, values in before_the_sensors(kilograms).items():
        assert read_back[start] == pytest.approx(values, abs=1e-5)
    ids = await hass.async_add_executor_job(list_statistic_ids, hass)
    weight = next(item for item in ids if item["statistic_id"] == "sensor.jo_lifter_weight")
    assert weight["statistics_unit_of_measurement"] == "lb"


async def test_an_install_of_version_1_moves_its_measures_to_the_sensors(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    bactrack: FakeBACtrack,
    add_bactrack: AddBACtrack,
) -> None:
    """Version 1 kept every statistic external: they are cleared and the history imported again,
    the BAC into its sensor's statistics and the readings counted once, at the same boundary."""
    entry = await added(hass, await add_bactrack())
    await history_done(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    key = f"{DOMAIN}.{entry.entry_id}.history"
    boundary = hass_storage[key]["data"]["boundary"]
    for statistic, summed in ((f"{BACTRACK}_bac", False), (f"{BACTRACK}_readings", True)):
        async_add_external_statistics(
            hass,
            statistic_metadata(
                statistic_id=statistic,
                source=DOMAIN,
                name="version 1",
                unit="%" if not summed else None,
                summed=summed,
            ),
            [StatisticData(start=hour(NOW) - timedelta(days=1), state=5.0, sum=99.0)]
            if summed
            else [StatisticData(start=hour(NOW) - timedelta(days=1), mean=1.0, min=1.0, max=1.0)],
        )
    hass_storage[key] = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {"boundary": boundary, "backfill": {"done": True}, "window": {}},
    }
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await history_done(hass, entry)
    readings = bactrack.accounts[10261].readings
    expected = means(readings, lambda reading: reading.timestamp, lambda reading: reading.bac)
    assert await hourly_means(hass, sensor_of(hass, "bactrack_10261_bac")) == before_the_sensors(
        expected
    )
    count = totals(readings, lambda reading: reading.timestamp, lambda reading: 1.0)
    assert await changes(hass, f"{BACTRACK}_readings") == count
    assert await external_ids(hass) == {f"{BACTRACK}_readings"}
    assert hass_storage[key]["version"] == 2
    assert hass_storage[key]["data"]["boundary"] == boundary
    assert "clear_external" not in hass_storage[key]["data"]


async def all_rows(hass: HomeAssistant, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every statistic of an account (to 6 digits: sums add up in another order)."""
    await async_wait_recording_done(hass)
    ids = await hass.async_add_executor_job(list_statistic_ids, hass)
    return {
        item["statistic_id"]: [
            {
                key: round(value, 6) if isinstance(value, float) else value
                for key, value in row.items()
            }
            for row in await rows(
                hass, item["statistic_id"], {"sum", "state", "mean", "min", "max"}
            )
        ]
        for item in ids
        if item["statistic_id"].startswith(prefix)
    }


async def test_importing_again_leaves_the_same_rows(
    hass: HomeAssistant,
    sporttracks_entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
) -> None:
    """A reload (the window read again) and the account deleted and added again: same rows."""
    await history_done(hass, sporttracks_entry)
    before = await all_rows(hass, SPORTTRACKS)
    assert len(before) == 4
    await hass.config_entries.async_reload(sporttracks_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await all_rows(hass, SPORTTRACKS) == before
    await hass.config_entries.async_remove(sporttracks_entry.entry_id)
    await history_done(hass, await added(hass, await add_account()))
    assert await all_rows(hass, SPORTTRACKS) == before


async def test_health_metrics_in_their_sensors_statistics(
    hass: HomeAssistant, sporttracks_entry: ConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """SportTracks' weight, body fat (in %) and resting heart rate: mean, min and max in the
    hour each was measured, in the statistics of the sensor of the same name, before the hour
    the account was added; read with the metrics, no request of their own."""
    await history_done(hass, sporttracks_entry)
    metrics = sporttracks.accounts["16964"].metrics
    for key, metric, factor in (
        ("weight", "weight", 1.0),
        ("body_fat", "bodyFat", 100.0),
        ("resting_heart_rate", "restingHeartrate", 1.0),
    ):
        expected = means(
            metrics[metric].items(), lambda item: item[0], lambda item, f=factor: item[1] * f
        )
        assert len(before_the_sensors(expected)) > 10, "the seed has months of metrics"
        sensor = sensor_of(hass, f"sporttracks_16964_{key}")
        assert await hourly_means(hass, sensor) == before_the_sensors(expected), key
    assert sporttracks.count("/api/v2/metrics") == 1
