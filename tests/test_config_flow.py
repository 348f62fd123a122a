"""The config flow, driven like a user: menu, credential, the fake's consent page, callback."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.health_trackers.const import CONF_SERVICE
from fakes import FakeSportTracks

from .conftest import AddAccount


async def test_add_sporttracks_account(
    hass: HomeAssistant, sporttracks: FakeSportTracks, add_account: AddAccount
) -> None:
    """The whole dance creates a loaded entry for the fake's user."""
    result = await add_account()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == "sporttracks_16964"
    assert entry.title == "SportTracks 16964"
    assert entry.data[CONF_SERVICE] == "sporttracks"
    assert entry.state is ConfigEntryState.LOADED
    token_requests = [r for r in sporttracks.requests if r.path == "/oauth2/token"]
    assert len(token_requests) == 1
    assert token_requests[0].headers["Content-Type"] == "application/json"
    assert token_requests[0].headers["Accept"] == "application/json"
