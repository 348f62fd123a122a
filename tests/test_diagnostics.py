"""Diagnostics: useful, and without tokens, secrets or who the account is."""

from __future__ import annotations

import json

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import json_dumps
from syrupy.assertion import SnapshotAssertion

from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from fakes.sporttracks import DEFAULT_CLIENT


async def test_diagnostics(
    hass: HomeAssistant, entry: ConfigEntry, snapshot: SnapshotAssertion
) -> None:
    """The download holds the polling state and values, with secrets redacted.

    Called directly: Home Assistant 2025.4's download view cannot serialise under a frozen clock.
    """
    diagnostics = json.loads(json_dumps(await async_get_config_entry_diagnostics(hass, entry)))
    assert diagnostics == snapshot
    text = json.dumps(diagnostics)
    for secret in (
        entry.data["token"]["access_token"],
        entry.data["token"]["refresh_token"],
        DEFAULT_CLIENT.client_id,
        DEFAULT_CLIENT.client_secret,
        "16964",
    ):
        assert secret not in text
