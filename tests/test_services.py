"""The get_records action: an account's records of a time range, read from the service."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.health_trackers import services
from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.providers import PROVIDERS
from fakes import FakeService, FakeSportTracks

from .conftest import ACCOUNTS, NOW, async_poll

SERVICES_YAML = Path(__file__).parent.parent / "custom_components" / DOMAIN / "services.yaml"


async def get_records(hass: HomeAssistant, **data: object) -> dict[str, object]:
    response = await hass.services.async_call(
        DOMAIN, "get_records", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


async def test_records_of_a_range_oldest_first(
    hass: HomeAssistant, entry: MockConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """Every workout that started in the range, with its values as event data holds them."""
    start, end = NOW - timedelta(days=60), NOW - timedelta(days=10)
    expected = sorted(
        (w for w in sporttracks.accounts["16964"].workouts if start <= w.start < end),
        key=lambda workout: workout.start,
    )
    assert len(expected) > 5
    response = await get_records(
        hass, config_entry_id=entry.entry_id, start=start.isoformat(), end=end.isoformat()
    )
    assert response["complete"] is True
    records = response["records"]
    assert isinstance(records, list)
    assert [record["id"] for record in records] == [str(w.id) for w in expected]
    first, workout = records[0], expected[0]
    measured_at = datetime.fromisoformat(str(first["measured_at"]))
    assert measured_at == workout.start
    assert measured_at.tzinfo is not None
    # The units event data has: minutes, kilometres, kilocalories.
    assert first["type"] == workout.type
    assert first["duration"] == round(workout.duration / 60, 1)
    assert first["distance"] == (
        None if workout.distance is None else round(workout.distance / 1000, 3)
    )
    assert first["energy"] == (
        None if workout.calories_kj is None else round(workout.calories_kj / 4.184, 1)
    )


@pytest.mark.parametrize("service", ACCOUNTS)
async def test_records_are_what_their_events_say(
    hass: HomeAssistant,
    service_entry: ConfigEntry,
    fake: FakeService,
    frozen_now: FrozenDateTimeFactory,
    service: str,
) -> None:
    """A new record's event data and its record in the answer are the same (keys, units,
    rounding); without ``details`` the answer leaves out only what a detail request reads."""
    provider = PROVIDERS[service]
    assert provider.event is not None
    fake.add_record(ACCOUNTS[service], NOW + timedelta(minutes=1))  # type: ignore[attr-defined]
    await async_poll(hass, frozen_now, provider.update_interval)
    entity_id = er.async_get(hass).async_get_entity_id(
        "event", DOMAIN, f"{service_entry.unique_id}_{provider.event.key}"
    )
    state = hass.states.get(entity_id or "")
    assert state is not None
    event = {
        key: value
        for key, value in state.attributes.items()
        if key not in ("event_type", "event_types", "friendly_name")
    }
    assert event, "the record fired"
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), service_entry.entry_id)
    assert device.model == "Account"
    by_device = {"device_id": device.id, "start": NOW.isoformat()}
    assert (await get_records(hass, **by_device, details=True))["records"] == [event]
    since = {"config_entry_id": service_entry.entry_id, "start": NOW.isoformat()}
    details = {field.key for field in provider.event.detail_fields}
    plain = {key: value for key, value in event.items() if key not in details}
    assert (await get_records(hass, **since))["records"] == [plain]


async def test_details_cost_a_request_each_and_are_capped(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With details, one detail request per record, and at most ``MAX_DETAILED`` records."""
    monkeypatch.setattr(services, "MAX_DETAILED", 4)
    sporttracks.requests.clear()
    response = await get_records(
        hass,
        config_entry_id=entry.entry_id,
        start=(NOW - timedelta(days=3650)).isoformat(),
        details=True,
    )
    records = response["records"]
    assert isinstance(records, list)
    assert (len(records), response["complete"]) == (4, False)
    assert all("average_heart_rate" in record for record in records)
    details = [r for r in sporttracks.requests if r.path.startswith("/api/v2/fitnessActivities/")]
    assert len(details) == 4


async def test_at_most_the_newest_of_a_long_range(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sporttracks: FakeSportTracks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A range with more records than one answer holds gives its newest, and says so."""
    monkeypatch.setattr(services, "MAX_RECORDS", 3)
    response = await get_records(
        hass, config_entry_id=entry.entry_id, start=(NOW - timedelta(days=3650)).isoformat()
    )
    newest = sorted(sporttracks.accounts["16964"].workouts, key=lambda w: w.start)[-3:]
    assert response["complete"] is False
    assert [r["id"] for r in response["records"]] == [str(w.id) for w in newest]  # type: ignore[attr-defined]


async def test_a_time_without_offset_is_home_assistants_local_time(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """``2026-11-01 00:00:00`` means midnight where Home Assistant is."""
    await hass.config.async_set_time_zone("Pacific/Chatham")
    response = await get_records(
        hass, config_entry_id=entry.entry_id, start="2026-11-01 00:00:00", end="2026-11-20 00:00:00"
    )
    assert response["complete"] is True


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"start": NOW.isoformat(), "end": (NOW - timedelta(days=1)).isoformat()}, "invalid_range"),
        ({"start": NOW.isoformat(), "config_entry_id": "nope"}, "entry_not_found"),
        ({"start": NOW.isoformat(), "device_id": "nope"}, "device_not_found"),
    ],
)
async def test_refused_calls(
    hass: HomeAssistant, entry: MockConfigEntry, data: dict[str, str], key: str
) -> None:
    """A range that ends before it starts, an unknown entry or device: told in words."""
    account = {} if "device_id" in data else {"config_entry_id": entry.entry_id}
    with pytest.raises(ServiceValidationError) as raised:
        await get_records(hass, **(account | data))
    assert raised.value.translation_key == key


def test_the_account_picker_offers_the_accounts_that_keep_records() -> None:
    """The action's device picker filters on the model every record-keeping account has."""
    actions = yaml.safe_load(SERVICES_YAML.read_text(encoding="utf-8"))
    (picked,) = actions["get_records"]["fields"]["device_id"]["selector"]["device"]["filter"]
    assert picked == {"integration": DOMAIN, "model": "Account"}
    for provider in PROVIDERS.values():
        assert (provider.device_model == "Account") is (provider.event is not None), provider.key


async def test_an_unloaded_account(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as raised:
        await get_records(hass, config_entry_id=entry.entry_id, start=NOW.isoformat())
    assert raised.value.translation_key == "entry_not_loaded"


async def test_the_service_down(
    hass: HomeAssistant, entry: MockConfigEntry, sporttracks: FakeSportTracks
) -> None:
    """The service's failure is the action's, in the same words as the sensors'."""
    sporttracks.fail(503)
    with pytest.raises(HomeAssistantError) as raised:
        await get_records(
            hass, config_entry_id=entry.entry_id, start=(NOW - timedelta(days=1)).isoformat()
        )
    assert raised.value.translation_key == "service_unavailable"
    assert "SportTracks is unavailable" in str(raised.value)
