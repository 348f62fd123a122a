"""The calendar: an account's workouts, scans and drinking sessions as events, per range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import yaml

from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from fakes import BACReading, FakeBACtrack, FakeBoditrax, FakeSportTracks
from fakes.sporttracks import Workout

from .conftest import BACTRACK_USER_ID, NOW, AddBACtrack, Consent, async_poll, choose_way

WORKOUTS = "calendar.sporttracks_16964_workouts"
SCANS = "calendar.jo_lifter_scans"
LIST_PATH = "/api/v2/fitnessActivities"
PAGE = 100
"""SportTracks' largest page."""


def workout_summary(workout: Workout) -> str:
    """What the calendar should show, worked out here from the fake's workout."""
    parts = [workout.type]
    if workout.distance is not None:
        parts.append(f"{workout.distance / 1000:.1f} km")
    parts.append(f"{workout.duration / 60:.0f} min")
    return " · ".join(parts)


async def get_events(
    hass: HomeAssistant, entity_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """``calendar.get_events`` as a script calls it."""
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {"entity_id": entity_id, "start_date_time": start, "end_date_time": end},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    events: list[dict[str, Any]] = response[entity_id]["events"]  # type: ignore[index,assignment]
    return events


def expected_workouts(fake: FakeSportTracks, start: datetime, end: datetime) -> list[Any]:
    """The fake's workouts that started in the range, oldest first: (start, end, summary)."""
    return [
        (
            workout.start,
            workout.start + timedelta(seconds=workout.clock_duration),  # elapsed, pauses too
            workout_summary(workout),
        )
        for workout in sorted(fake.accounts["16964"].workouts, key=lambda w: w.start)
        if start <= workout.start < end
    ]


def shown(events: list[dict[str, Any]]) -> list[Any]:
    return [
        (
            datetime.fromisoformat(event["start"]),
            datetime.fromisoformat(event["end"]),
            event["summary"],
        )
        for event in events
    ]


def list_requests(fake: FakeSportTracks) -> int:
    return sum(request.path == LIST_PATH for request in fake.requests)


@pytest.mark.parametrize(
    ("start", "end", "held"),
    [
        (NOW - timedelta(days=1), NOW, True),  # a day: within the last 7 days a poll holds
        (NOW - timedelta(days=30), NOW, False),  # a month
        (NOW - timedelta(days=400), NOW - timedelta(days=35), False),  # a year back
    ],
    ids=["day", "month", "year back"],
)
async def test_workouts_of_a_range(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    start: datetime,
    end: datetime,
    held: bool,
) -> None:
    """Each workout from its start for its elapsed time, "Running · 5.8 km · 35 min"; a range
    within the last 7 days costs no request, another at most one list request per page of the
    workouts in it (and one to see its end), and asking again costs none."""
    expected = expected_workouts(sporttracks, start, end)
    assert expected, "the seed has workouts in each range"
    sporttracks.requests.clear()
    assert shown(await get_events(hass, WORKOUTS, start, end)) == expected
    assert list_requests(sporttracks) <= (0 if held else math.ceil((len(expected) + 1) / PAGE))
    sporttracks.requests.clear()
    assert shown(await get_events(hass, WORKOUTS, start, end)) == expected
    assert list_requests(sporttracks) == 0, "a range is read once until the next poll"


async def test_the_panel_reads_the_same_events(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
) -> None:
    """The calendar panel's REST endpoint answers the same events."""
    start, end = NOW - timedelta(days=30), NOW
    client = await hass_client()
    answer = await client.get(
        f"/api/calendars/{WORKOUTS}", params={"start": start.isoformat(), "end": end.isoformat()}
    )
    assert answer.status == 200
    events = [
        (datetime.fromisoformat(e["start"]["dateTime"]), e["summary"]) for e in await answer.json()
    ]
    assert events == [(s, summary) for s, _, summary in expected_workouts(sporttracks, start, end)]


async def test_a_new_workout_shows_after_the_poll_that_found_it(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """No restart: the poll that finds a workout makes the next read of a range show it; a
    workout in progress turns the calendar on."""
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=1)
    before = await get_events(hass, WORKOUTS, start, end)
    sporttracks.accounts["16964"].add_workout(
        Workout(
            9_500_000,
            NOW + timedelta(minutes=1),
            "Z",
            "Rowing",
            "row",
            3600.0,
            8000.0,
            calories_kj=2000.0,
            elevation_gain=35.0,
            avg_heartrate=140,
        )
    )
    await async_poll(hass, frozen_now, timedelta(minutes=15))
    after = await get_events(hass, WORKOUTS, start, end)
    assert len(after) == len(before) + 1
    assert after[-1]["summary"] == "Rowing · 8.0 km · 60 min"
    assert after[-1]["description"].split("\n") == [  # from the list alone: no detail request
        "row",
        "Workout duration: 60 min",
        "Workout energy: 478 kcal",  # 2000 kJ
        "Workout avg heart rate: 140 bpm",
        "Workout elevation gain: 35 m",
        f"{sporttracks.origin}/activity/9500000",  # its page on SportTracks
    ]
    state = hass.states.get(WORKOUTS)
    assert state is not None
    assert (state.state, state.attributes["message"]) == ("on", "Rowing · 8.0 km · 60 min")


async def test_a_workout_lands_on_its_local_day(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
) -> None:
    """A workout at 23:30 in -02:30, Home Assistant in Newfoundland (-02:30 in summer): on that
    day, not the next, whatever UTC says."""
    await hass.config.async_set_time_zone("America/St_Johns")
    at = datetime(2026, 7, 14, 23, 30, tzinfo=UTC) + timedelta(hours=2, minutes=30)
    sporttracks.accounts["16964"].add_workout(
        Workout(9_600_000, at, "-02:-30", "Running", "late", 1800.0, 5000.0)
    )
    local_day = datetime(2026, 7, 14, tzinfo=UTC) + timedelta(hours=2, minutes=30)
    events = await get_events(hass, WORKOUTS, local_day, local_day + timedelta(days=1))
    assert [(e["start"], e["summary"]) for e in events] == [
        ("2026-07-14T23:30:00-02:30", "Running · 5.0 km · 30 min")
    ]


@pytest.fixture
async def boditrax_entry(
    hass: HomeAssistant, boditrax: FakeBoditrax, boditrax_credential: None, consent: Consent
) -> ConfigEntry:
    result = await consent(await choose_way(hass, "boditrax"), "allow")
    entry: ConfigEntry = result["result"]
    return entry


async def test_scans_of_a_month(
    hass: HomeAssistant, boditrax_entry: ConfigEntry, boditrax: FakeBoditrax
) -> None:
    """Each scan at its time with its weight and body fat, "84.7 kg · 21.1 %"."""
    start, end = NOW - timedelta(days=60), NOW
    scans = sorted(
        (scan for scan in boditrax.members["m_123"].readings if start <= scan.date < end),
        key=lambda scan: scan.date,
    )
    assert scans
    expected = []
    for scan in scans:
        weight = scan.measurements["BodyWeight"]
        fat = scan.measurements["FatMass"] / weight * 100
        expected.append((scan.date, f"{weight:.1f} kg · {fat:.1f} %"))
    events = await get_events(hass, SCANS, start, end)
    assert [(datetime.fromisoformat(e["start"]), e["summary"]) for e in events] == expected
    details = events[-1]["description"].split("\n")
    muscle = scans[-1].measurements["MuscleMass"]
    assert f"Muscle mass: {muscle:.1f} kg" in details
    assert f"Metabolic age: {scans[-1].measurements['MetabolicAge']:.0f} years" in details
    state = hass.states.get(SCANS)
    assert state is not None
    assert state.state == "off", "a scan is never in progress"


async def test_the_readmes_script_counts_this_weeks_workouts(
    hass: HomeAssistant, entry: ConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """The README's script for an assistant, as written there, answers this week's count."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("# A script for an assistant: how many workouts this week")
    script = yaml.safe_load(readme[start : readme.index("```", start)])
    assert await async_setup_component(hass, "script", {"script": {"week": script}})
    response = await hass.services.async_call("script", "week", blocking=True, return_response=True)
    monday = dt_util.start_of_local_day() - timedelta(days=dt_util.now().weekday())
    count = sum(
        monday <= workout.start < monday + timedelta(days=7)
        for workout in sporttracks.accounts["16964"].workouts
    )
    assert count, "the seed has workouts this week"
    assert response == {"workouts": count}


SESSIONS = "calendar.sam_drinking_sessions"
EVENING = NOW - timedelta(days=3)
"""An evening well before the test's now (12:00 UTC), its readings set below."""


def drink(fake: FakeBACtrack, readings: list[tuple[timedelta, float]]) -> None:
    """Sam's readings replaced by these, at ``EVENING`` + each offset."""
    user = fake.accounts[BACTRACK_USER_ID]
    user.readings = []
    for index, (offset, bac) in enumerate(readings):
        user.add_reading(BACReading(50_000 + index, EVENING + offset, bac))


@pytest.mark.parametrize("language", ["en", "de"])
async def test_readings_become_drinking_sessions(
    hass: HomeAssistant, bactrack: FakeBACtrack, add_bactrack: AddBACtrack, language: str
) -> None:
    """Readings above zero less than 3 hours apart, or before the last sober time, are one
    session, from the first reading to the estimated sober time (0.015 %/h), with the peak and
    the count in Home Assistant's language; a zero reading belongs to none."""
    hass.config.language = language
    drink(
        bactrack,
        [
            (timedelta(hours=0), 0.03),
            (timedelta(hours=0, minutes=45), 0.06),
            (timedelta(hours=2), 0.08),  # sober at +7h20
            (timedelta(hours=3, minutes=30), 0.0),  # belongs to no session
            (timedelta(hours=5, minutes=30), 0.02),  # 3½ h later, but before +7h20
            (timedelta(hours=23), 0.05),  # the next evening: a new session
        ],
    )
    await add_bactrack()
    sessions = er.async_get(hass).async_get_entity_id(
        "calendar", DOMAIN, f"bactrack_{BACTRACK_USER_ID}_drinking_sessions"
    )
    assert sessions is not None
    events = await get_events(hass, sessions, EVENING - timedelta(hours=1), NOW)
    readings = {"en": "readings", "de": "Messungen"}[language]
    assert [
        (datetime.fromisoformat(e["start"]), datetime.fromisoformat(e["end"]), e["summary"])
        for e in events
    ] == [
        (EVENING, EVENING + timedelta(hours=2 + 0.08 / 0.015), f"0.080 % · {readings}: 4"),
        (
            EVENING + timedelta(hours=23),
            EVENING + timedelta(hours=23 + 0.05 / 0.015),
            f"0.050 % · {readings}: 1",
        ),
    ]
    assert events[0]["description"].split("\n") == [
        f"{dt_util.as_local(EVENING + offset):%H:%M} {bac:.3f} %"
        for offset, bac in (
            (timedelta(0), 0.03),
            (timedelta(minutes=45), 0.06),
            (timedelta(hours=2), 0.08),
            (timedelta(hours=5, minutes=30), 0.02),
        )
    ]
    # A range that begins in the middle of the first session still shows it.
    middle = await get_events(
        hass, sessions, EVENING + timedelta(hours=4), EVENING + timedelta(hours=5)
    )
    assert [e["summary"] for e in middle] == [f"0.080 % · {readings}: 4"]


async def test_a_session_going_on_turns_the_calendar_on(
    hass: HomeAssistant, bactrack: FakeBACtrack, add_bactrack: AddBACtrack
) -> None:
    """A reading an hour ago at 0.050 %: sober in about two more hours, so the session is on."""
    drink(bactrack, [(NOW - EVENING - timedelta(hours=1), 0.05)])
    await add_bactrack()
    state = hass.states.get(SESSIONS)
    assert state is not None
    assert (state.state, state.attributes["message"]) == ("on", "0.050 % · readings: 1")


async def test_diagnostics_count_the_ranges_kept(
    hass: HomeAssistant, entry: ConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """Counts only: how many ranges are kept since the last poll and how many events they hold."""
    month = await get_events(hass, WORKOUTS, NOW - timedelta(days=60), NOW - timedelta(days=30))
    year = await get_events(hass, WORKOUTS, NOW - timedelta(days=400), NOW - timedelta(days=35))
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["calendar"] == {"ranges_kept": 2, "events_kept": len(month) + len(year)}
