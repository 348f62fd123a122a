"""A service the integration has never heard of, added by registering its provider, nothing else.

``tests/scales.py`` holds its client, provider and fake. Through Home Assistant as a user goes:
the menu offers it, its sign-in page signs in, its sensor shows the newest weigh-in, a new
weigh-in fires once, its history lands in long-term statistics, ``get_records`` answers its
records and diagnostics describe it without a value or a secret.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest

from custom_components.health_trackers.const import DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from custom_components.health_trackers.providers import PROVIDERS

from .conftest import NOW, Consent, async_poll, choose_way, serving
from .scales import CLIENT, SCALES, FakeScales
from .test_statistics import before_the_sensors, hourly_means, means


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder before Home Assistant's test instance, then our integration."""


@pytest.fixture
async def scales(
    hass: HomeAssistant, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[FakeScales]:
    """The fake Scales, its provider in the registry and its application credential."""
    monkeypatch.setitem(PROVIDERS, SCALES.key, SCALES)
    assert await async_setup_component(hass, "application_credentials", {})
    await async_import_client_credential(
        hass, DOMAIN, ClientCredential(CLIENT.client_id, CLIENT.client_secret, "Scales"), "scales"
    )
    async with serving(FakeScales(now=NOW), monkeypatch) as fake:
        yield fake


async def test_a_fourth_service_needs_only_its_provider(
    hass: HomeAssistant,
    scales: FakeScales,
    consent: Consent,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    result = await consent(await choose_way(hass, "scales"), "allow")  # in the menu, too
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    assert (entry.title, entry.unique_id) == ("Pat Scales", "scales_u1")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED

    # The sensor: the newest weigh-in.
    assert hass.states.get("sensor.pat_scales_weight").state == str(scales.weigh_ins[0]["kg"])

    # An event: a new weigh-in fires once, with its fields.
    scales.weigh(79.35, NOW + timedelta(minutes=1))
    await async_poll(hass, frozen_now, timedelta(minutes=10))
    event = hass.states.get("event.pat_scales_new_scan")
    assert event.attributes["event_type"] == "new_scan"
    assert (event.attributes["id"], event.attributes["weight"]) == ("1001", 79.35)
    assert hass.states.get("sensor.pat_scales_weight").state == "79.35"

    # Statistics: every weigh-in before the account was added, hour by hour, in the sensor's.
    await hass.async_block_till_done(wait_background_tasks=True)
    expected = means(
        scales.weigh_ins, lambda item: datetime.fromisoformat(item["at"]), lambda item: item["kg"]
    )
    assert await hourly_means(hass, "sensor.pat_scales_weight") == before_the_sensors(expected)

    # get_records: the records of a range, with the event's fields.
    response = await hass.services.async_call(
        DOMAIN,
        "get_records",
        {"config_entry_id": entry.entry_id, "start": (NOW - timedelta(days=3)).isoformat()},
        blocking=True,
        return_response=True,
    )
    assert response["records"] == [
        {"id": item["id"], "measured_at": item["at"], "weight": item["kg"]}
        for item in reversed(scales.weigh_ins[:4])
    ]

    # Diagnostics: which values exist, not what they are; no secret.
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["provider"] == "scales"
    assert diagnostics["values_present"] == {"weight": True}
    assert diagnostics["history"]["state"] == "done"
    assert "79.35" not in str(diagnostics)
    assert CLIENT.client_secret not in str(diagnostics)
