"""The write actions, add_body_metrics and add_workout, against the fake SportTracks.

Each call goes through Home Assistant's action registry as an automation's does; what counts is
what the fake then holds (values in its units, how many workouts), what the sensors and events
show after the call, and that a refusal sends nothing.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.health_trackers.clients.api import REQUEST_TIMEOUT
from custom_components.health_trackers.clients.sporttracks import (
    ACTIVITIES,
    METRICS,
    WORKOUT_TYPES,
)
from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from custom_components.health_trackers.providers import PROVIDERS
from custom_components.health_trackers.providers.base import BodyMetricsWriter
from fakes import FakeSportTracks

from .conftest import NOW, ExpectedLog, Fired
from .test_services import SERVICES_YAML

ACCOUNT = "16964"
MEASURED = NOW - timedelta(minutes=5)
ZONE = timezone(-timedelta(hours=2, minutes=30))
"""Where the person is: times sent in its offset are stored as the same instants in UTC."""


async def call(hass: HomeAssistant, action: str, **data: Any) -> dict[str, Any]:
    """The action's answer, as a script with ``response_variable`` gets it."""
    response = await hass.services.async_call(
        DOMAIN, action, data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


def state(hass: HomeAssistant, platform: str, key: str) -> Any:
    """The state of the SportTracks account's entity ``key``."""
    entity_id = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"sporttracks_{ACCOUNT}_{key}"
    )
    assert entity_id is not None
    return hass.states.get(entity_id)


def uploads(sporttracks: FakeSportTracks) -> int:
    return sporttracks.count(ACTIVITIES, "POST")


# -- body measurements -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "unit"), [(84.7, "kg"), (186.73, "lb"), (13.3379, "st")], ids=["kg", "lb", "st"]
)
async def test_body_metrics_are_stored_in_the_services_units(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    weight: float,
    unit: str,
) -> None:
    """Weight in kg whatever unit it came in, body fat as a fraction, at the time given (UTC);
    the sensors show them as soon as the call returns, though metrics were read minutes ago."""
    at = MEASURED.astimezone(ZONE)
    answer = await call(
        hass,
        "add_body_metrics",
        config_entry_id=entry.entry_id,
        weight=weight,
        weight_unit=unit,
        body_fat=21.1,
        resting_heart_rate=52,
        measured_at=at.isoformat(),
    )
    assert answer == {
        "measured_at": at.isoformat(),
        "weight": 84.7,
        "body_fat": 21.1,
        "resting_heart_rate": 52,
    }
    metrics = sporttracks.accounts[ACCOUNT].metrics
    assert metrics["weight"][MEASURED] == pytest.approx(84.7, abs=0.01)
    assert metrics["bodyFat"][MEASURED] == pytest.approx(0.211)
    assert metrics["restingHeartrate"][MEASURED] == 52
    weight_state = state(hass, "sensor", "weight")
    assert float(weight_state.state) == pytest.approx(84.7, abs=0.01)
    assert weight_state.attributes["measured_at"] == MEASURED.isoformat()
    assert float(state(hass, "sensor", "body_fat").state) == pytest.approx(21.1)
    assert state(hass, "sensor", "resting_heart_rate").state == "52"


async def test_the_same_measurements_twice_are_stored_once(
    hass: HomeAssistant, entry: MockConfigEntry, sporttracks: FakeSportTracks, fired: Fired
) -> None:
    """An upsert: the second call replaces the value at that time with itself; the new
    measurement fires its event once, when the first call returns."""
    before = len(sporttracks.accounts[ACCOUNT].metrics["weight"])
    for expected in ([MEASURED.isoformat()], []):
        await call(
            hass,
            "add_body_metrics",
            config_entry_id=entry.entry_id,
            weight=84.7,
            measured_at=MEASURED.isoformat(),
        )
        assert fired.ids() == expected
    assert len(sporttracks.accounts[ACCOUNT].metrics["weight"]) == before + 1
    assert sporttracks.count(METRICS, "POST") == 2


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"weight": 2000}, "implausible_value"),
        ({"weight": 4409, "weight_unit": "lb"}, "implausible_value"),
        ({"weight": -1}, "implausible_value"),
        ({"body_fat": 150}, "implausible_value"),
        ({"body_fat": -3}, "implausible_value"),
        ({"body_fat": 0.21}, "implausible_value"),  # a fraction where percent is asked
        ({"resting_heart_rate": 400}, "implausible_value"),
        ({"weight": 80, "measured_at": (NOW + timedelta(hours=1)).isoformat()}, "in_future"),
    ],
)
async def test_implausible_measurements_are_refused_before_sending(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    values: dict[str, Any],
    key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, "add_body_metrics", config_entry_id=entry.entry_id, **values)
    assert raised.value.translation_key == key
    assert "nothing was sent" in str(raised.value)
    assert sporttracks.count(METRICS, "POST") == 0


async def test_a_call_without_a_measurement_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry, sporttracks: FakeSportTracks
) -> None:
    with pytest.raises(Exception, match="at least one of"):
        await call(hass, "add_body_metrics", config_entry_id=entry.entry_id)
    assert sporttracks.count(METRICS, "POST") == 0


@pytest.mark.parametrize("service", ["bactrack", "boditrax"])
async def test_an_account_that_stores_nothing(
    hass: HomeAssistant, service_entry: ConfigEntry, service: str
) -> None:
    """Only SportTracks stores what the actions write; another account is told so, by name."""
    for action, data, key in (
        ("add_body_metrics", {"weight": 80}, "stores_no_body_metrics"),
        (
            "add_workout",
            {"type": "Running", "start": MEASURED.isoformat(), "duration": "00:30:00"},
            "stores_no_workouts",
        ),
    ):
        with pytest.raises(ServiceValidationError) as raised:
            await call(hass, action, config_entry_id=service_entry.entry_id, **data)
        assert raised.value.translation_key == key
        assert service_entry.title in str(raised.value)


async def test_measurements_not_confirmed(
    hass: HomeAssistant, entry: MockConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """The service down: the user is told that calling again is harmless."""
    sporttracks.fail(503, path=METRICS, method="POST")
    with pytest.raises(HomeAssistantError) as raised:
        await call(hass, "add_body_metrics", config_entry_id=entry.entry_id, weight=80)
    assert raised.value.translation_key == "metrics_not_confirmed"
    assert "harmless" in str(raised.value)


# -- workouts --------------------------------------------------------------------------------


def new_workout(sporttracks: FakeSportTracks) -> dict[str, Any]:
    """A workout that starts after every one the fake holds, ended before now."""
    newest = max(workout.start for workout in sporttracks.accounts[ACCOUNT].workouts)
    assert newest < NOW - timedelta(hours=1)
    return {
        "type": "running: trail",
        "start": (NOW - timedelta(hours=1)).astimezone(ZONE).isoformat(),
        "duration": {"minutes": 45},
        "distance": 8.5,
        "energy": 520,
        "average_heart_rate": 148,
        "name": "Morning run",
        "notes": "Legs fine",
    }


async def test_a_workout_is_stored_once_and_fires_once(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    fired: Fired,
) -> None:
    """Stored in SportTracks' units and spelling; its event fires once, when the call returns;
    the same call again finds it and stores nothing."""
    workout = new_workout(sporttracks)
    answer = await call(hass, "add_workout", config_entry_id=entry.entry_id, **workout)
    stored = [
        w for w in sporttracks.accounts[ACCOUNT].workouts if w.start == NOW - timedelta(hours=1)
    ]
    assert len(stored) == 1
    (kept,) = stored
    assert (kept.type, kept.name, kept.duration) == ("Running: Trail", "Morning run", 2700)
    assert kept.distance == 8500
    assert kept.calories_kj == pytest.approx(520 * 4.184)
    assert kept.avg_heartrate == 148
    assert answer == {
        "id": str(kept.id),
        "url": f"{sporttracks.origin}/activity/{kept.id}",
        "start": workout["start"],  # in the offset it was given in
        "created": True,
    }
    assert fired.ids() == [str(kept.id)]
    assert state(hass, "sensor", "latest_workout_type").state == "Running: Trail"

    again = await call(hass, "add_workout", config_entry_id=entry.entry_id, **workout)
    assert again == {**answer, "created": False}
    assert uploads(sporttracks) == 1
    assert fired.ids() == []
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["writes"] == {"add_workout": 2}


@pytest.mark.parametrize(
    ("fault", "stored"),
    [
        ({"drop": True}, False),
        ({"drop": True, "carried_out": True}, True),
        ({"delay": 3600, "carried_out": True}, True),
    ],
    ids=["dropped before storing", "dropped after storing", "timed out after storing"],
)
async def test_a_lost_answer_is_looked_for_not_sent_again(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    fired: Fired,
    frozen_now: FrozenDateTimeFactory,
    fault: dict[str, Any],
    stored: bool,
) -> None:
    """One call, one upload, at most one workout: the list says whether it was stored."""
    sporttracks.fail(path=ACTIVITIES, method="POST", times=1, **fault)
    workout = new_workout(sporttracks)
    start = NOW - timedelta(hours=1)
    calling = hass.async_create_task(
        call(hass, "add_workout", config_entry_id=entry.entry_id, **workout)
    )
    if "delay" in fault:
        while not sporttracks.held:  # noqa: ASYNC110 - the upload travels over real sockets
            await asyncio.sleep(0)
        frozen_now.tick(REQUEST_TIMEOUT + 1)  # the clock is frozen: move it past the deadline
    if stored:
        assert (await calling)["created"] is True
    else:
        with pytest.raises(HomeAssistantError) as raised:
            await calling
        assert raised.value.translation_key == "workout_not_stored"
        assert "Call the action again" in str(raised.value)
    kept = [w for w in sporttracks.accounts[ACCOUNT].workouts if w.start == start]
    assert len(kept) == int(stored)
    assert uploads(sporttracks) == 1
    assert fired.ids() == [str(w.id) for w in kept]


async def test_the_upload_check_failing_too(
    hass: HomeAssistant, entry: MockConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """The upload's answer lost and the list unreadable: the user is asked to look first."""
    workout = new_workout(sporttracks)
    lists: list[object] = []

    def second_unreadable(answer: Any) -> Any:
        """The check before the upload reads the list; the one after it cannot."""
        lists.append(answer)
        return answer if len(lists) == 1 else {"items": "unreadable"}

    sporttracks.fail(path=ACTIVITIES, method="POST", drop=True, carried_out=True, times=1)
    sporttracks.fail(path=ACTIVITIES, method="GET", rewrite=second_unreadable)
    with pytest.raises(HomeAssistantError) as raised:
        await call(hass, "add_workout", config_entry_id=entry.entry_id, **workout)
    assert raised.value.translation_key == "workout_unconfirmed"
    assert "before calling the action again" in str(raised.value)
    assert uploads(sporttracks) == 1


@pytest.mark.parametrize(
    ("refused", "key"),
    [({"method": "POST", "path": ACTIVITIES}, "write_refused"), ({}, "authentication_failed")],
    ids=["the upload only: an expired trial", "every request: the sign-in"],
)
async def test_a_refused_upload(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    expect_log: ExpectedLog,
    refused: dict[str, Any],
    key: str,
) -> None:
    """A 401 on the upload while reads work is the account's subscription, not its sign-in:
    no re-authentication; refused everywhere, the sign-in is asked for again."""
    expect_log("^Authentication failed while fetching")
    workout = new_workout(sporttracks)
    sporttracks.fail(401, '{"error": "invalid_token"}', **refused)
    with pytest.raises(HomeAssistantError) as raised:
        await call(hass, "add_workout", config_entry_id=entry.entry_id, **workout)
    assert raised.value.translation_key == key
    flows = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("source") == SOURCE_REAUTH
    ]
    assert bool(flows) is (key == "authentication_failed")
    assert entry.state is ConfigEntryState.LOADED
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["writes"] == {"add_workout_failed": 1}


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"type": "Runing"}, "unknown_workout_type"),
        ({"duration": {"seconds": 0}}, None),
        ({"duration": {"days": 9}}, "implausible_value"),
        ({"average_heart_rate": 400}, "implausible_value"),
        ({"distance": -2}, "implausible_value"),
        ({"start": (NOW + timedelta(hours=2)).isoformat()}, "in_future"),
    ],
)
async def test_implausible_workouts_are_refused_before_sending(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    values: dict[str, Any],
    key: str | None,
) -> None:
    requests = len(sporttracks.requests)
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the schema's error, or ours
        await call(
            hass,
            "add_workout",
            config_entry_id=entry.entry_id,
            **(new_workout(sporttracks) | values),
        )
    if key is not None:
        assert isinstance(raised.value, ServiceValidationError)
        assert raised.value.translation_key == key
    assert len(sporttracks.requests) == requests


def test_the_actions_offer_what_the_service_takes() -> None:
    """The type select is SportTracks' list; the account pickers offer the accounts that write."""
    actions = yaml.safe_load(SERVICES_YAML.read_text(encoding="utf-8"))
    options = actions["add_workout"]["fields"]["type"]["selector"]["select"]["options"]
    assert tuple(options) == WORKOUT_TYPES
    writers = {
        "add_body_metrics": {
            provider.name
            for provider in PROVIDERS.values()
            if issubclass(provider.tracker_type, BodyMetricsWriter)  # type: ignore[arg-type]
        },
        "add_workout": {
            provider.name
            for provider in PROVIDERS.values()
            if hasattr(provider.tracker_type, "workout_types")
        },
    }
    for action, names in writers.items():
        (picked,) = actions[action]["fields"]["device_id"]["selector"]["device"]["filter"]
        assert picked == {"integration": DOMAIN, "manufacturer": "SportTracks", "model": "Account"}
        assert names == {picked["manufacturer"]}


async def test_a_refused_measurement_is_the_subscription_too(
    hass: HomeAssistant, entry: MockConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """A 401 on the metrics while reads work: the same words as for an upload, no reauth."""
    sporttracks.fail(401, '{"error": "trial expired"}', path=METRICS, method="POST")
    with pytest.raises(HomeAssistantError) as raised:
        await call(hass, "add_body_metrics", config_entry_id=entry.entry_id, weight=80)
    assert raised.value.translation_key == "write_refused"
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.parametrize(
    ("fault", "key", "posts"),
    [
        ({"status": 429, "method": "POST", "headers": {"Retry-After": "60"}}, "rate_limited", 1),
        ({"status": 503, "method": "GET"}, "service_unavailable", 0),
    ],
    ids=["upload rate limited", "the check before it down"],
)
async def test_an_upload_refused_for_certain_is_not_looked_for(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    fault: dict[str, Any],
    key: str,
    posts: int,
) -> None:
    """A 429 stored nothing, and a failed check sent nothing: said as such, nothing read after."""
    workout = new_workout(sporttracks)
    reads = sporttracks.count(ACTIVITIES, "GET")
    sporttracks.fail(path=ACTIVITIES, **fault)
    with pytest.raises(HomeAssistantError) as raised:
        await call(hass, "add_workout", config_entry_id=entry.entry_id, **workout)
    assert raised.value.translation_key == key
    assert uploads(sporttracks) == posts
    assert sporttracks.count(ACTIVITIES, "GET") == reads + 1, "the check before, none after"
