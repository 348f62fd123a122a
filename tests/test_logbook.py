"""The logbook: a new record's line says what it holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.providers import PROVIDERS
from fakes import FakeService

from .conftest import ACCOUNTS, NOW, async_poll


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder (the logbook reads it) before Home Assistant's test instance."""


def summary_of(service: str, record: Any) -> str:
    """The line the logbook should show for a fake's record, worked out here on its own."""
    if service == "sporttracks":
        return f"{record.type} · {record.distance / 1000:.1f} km · {record.duration / 60:.0f} min"
    if service == "boditrax":
        weight = record.measurements["BodyWeight"]
        return f"{weight:.1f} kg · {record.measurements['FatMass'] / weight * 100:.1f} %"
    return f"{record.bac:.3f} %"


async def logbook_lines(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, entity_id: str | None
) -> list[str]:
    """The messages of the entity's logbook lines around ``NOW``, as the device page asks."""
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": (NOW - timedelta(hours=1)).isoformat(),
            "end_time": (NOW + timedelta(days=1)).isoformat(),
            "entity_ids": [entity_id],
        }
    )
    answer = await client.receive_json()
    return [str(entry["message"]) for entry in answer["result"] if "message" in entry]


@pytest.mark.parametrize("service", ACCOUNTS)
async def test_the_logbook_says_what_each_record_holds(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    service_entry: ConfigEntry,
    fake: FakeService,
    frozen_now: FrozenDateTimeFactory,
    service: str,
) -> None:
    """A new record's line in the logbook (the device page's Activity) holds its values, not
    only "New scan": "84.7 kg · 21.1 %", "Running · 16.0 km · 90 min", "0.080 %"."""
    hass.config.components.add("frontend")  # the panel's; not installed for tests
    assert await async_setup_component(hass, "logbook", {})
    provider = PROVIDERS[service]
    fake.add_record(ACCOUNTS[service], NOW + timedelta(minutes=1))  # type: ignore[attr-defined]
    record = fake.records_of(ACCOUNTS[service])[0]  # type: ignore[attr-defined]
    await async_poll(hass, frozen_now, provider.update_interval)
    await async_wait_recording_done(hass)
    entity_id = er.async_get(hass).async_get_entity_id(
        "event",
        DOMAIN,
        f"{service_entry.unique_id}_{provider.event.key}",  # type: ignore[union-attr]
    )
    lines = await logbook_lines(hass, hass_ws_client, entity_id)
    assert summary_of(service, record) in lines


async def test_the_logbook_says_what_a_new_measurement_holds(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    entry: ConfigEntry,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Body measurements written through the action: "84.7 kg · 21.1 % · 52 bpm"."""
    hass.config.components.add("frontend")
    assert await async_setup_component(hass, "logbook", {})
    await hass.services.async_call(
        DOMAIN,
        "add_body_metrics",
        {
            "config_entry_id": entry.entry_id,
            "weight": 84.7,
            "body_fat": 21.1,
            "resting_heart_rate": 52,
            "measured_at": (NOW - timedelta(minutes=1)).isoformat(),
        },
        blocking=True,
    )
    await async_wait_recording_done(hass)
    entity_id = er.async_get(hass).async_get_entity_id(
        "event", DOMAIN, f"{entry.unique_id}_new_measurement"
    )
    assert "84.7 kg · 21.1 % · 52 bpm" in await logbook_lines(hass, hass_ws_client, entity_id)
