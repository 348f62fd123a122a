"""Diagnostics: what a maintainer needs to debug an account, without tokens or personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import HealthTrackersConfigEntry

TO_REDACT = {
    "access_token",
    "refresh_token",
    "client_secret",
    "token_secret",
    "auth_implementation",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HealthTrackersConfigEntry
) -> dict[str, Any]:
    """Entry data (redacted), polling state and the latest values."""
    coordinator = entry.runtime_data
    provider = coordinator.provider
    return {
        "service": provider.service,
        "origin_overridden": provider.origin != provider.default_origin,
        "entry_data": async_redact_data(dict(entry.data), TO_REDACT),
        "update_interval_seconds": provider.update_interval.total_seconds(),
        "last_update_success": coordinator.last_update_success,
        "last_exception": repr(coordinator.last_exception) if coordinator.last_exception else None,
        "data": {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in sorted(coordinator.data.items())
        },
    }
