"""Diagnostics: useful, and without tokens, secrets or who the account is."""

from __future__ import annotations

import json

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import json_dumps
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from fakes.bactrack import DEFAULT_CONSUMER
from fakes.boditrax import DEFAULT_CLIENT as BODITRAX_CLIENT
from fakes.sporttracks import DEFAULT_CLIENT

from .conftest import BACTRACK_USER_ID, SERVICES


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


ACCOUNT_SECRETS = {
    "sporttracks": (DEFAULT_CLIENT.client_id, DEFAULT_CLIENT.client_secret, "16964"),
    "boditrax": (BODITRAX_CLIENT.client_id, BODITRAX_CLIENT.client_secret, "m_123", "Jo Lifter"),
    "boditrax_facility": (
        BODITRAX_CLIENT.client_id,
        BODITRAX_CLIENT.client_secret,
        "f_1",
        "Riverside",
    ),
    "bactrack": (DEFAULT_CONSUMER.key, DEFAULT_CONSUMER.secret, str(BACTRACK_USER_ID)),
}
"""Service → who the account is and what the app signs in with, besides the entry's tokens."""
TOKEN_KEYS = ("access_token", "refresh_token", "access_token_secret")


@pytest.mark.parametrize("service", SERVICES)
async def test_diagnostics_hold_no_secrets(
    hass: HomeAssistant, service_entry: ConfigEntry, service: str
) -> None:
    """No token, key or secret, and nothing that says who the account is, for every service."""
    diagnostics = json.loads(
        json_dumps(await async_get_config_entry_diagnostics(hass, service_entry))
    )
    assert diagnostics["provider"] == service
    data = service_entry.data
    tokens = [data[key] for key in TOKEN_KEYS if key in data]
    tokens += [data["token"][key] for key in TOKEN_KEYS if key in data.get("token", {})]
    assert tokens, "the entry holds no token to look for"
    text = json.dumps(diagnostics)
    for secret in (*tokens, *ACCOUNT_SECRETS[service]):
        assert secret not in text
