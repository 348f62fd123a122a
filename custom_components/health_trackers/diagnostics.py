"""Diagnostics: what a maintainer needs to debug an account, without secrets, identity or health data."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant

from .calendar import account_calendar
from .const import CONF_PERSONAL_DATA
from .coordinator import HealthTrackersConfigEntry

TOKEN_FIELDS = ("expires_at", "expires_in", "token_type", "scope")
"""The only token fields shown; everything else in a token answer may be a secret."""


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HealthTrackersConfigEntry
) -> dict[str, Any]:
    """Token lifetime, polling state, and which values the service gave (not the values).

    ``answers``: each endpoint's last answer as a shape (keys, types, lengths; never a value), so
    a report shows how a real service differs from what we assumed.

    Which values: None before the first successful poll (set up while the service was down).
    """
    coordinator = entry.runtime_data
    provider = coordinator.provider
    snapshot = coordinator.data
    token = entry.data.get("token", {})
    return {
        "provider": provider.key,
        "origin_overridden": provider.origin != provider.default_origin,
        "token": {key: token[key] for key in TOKEN_FIELDS if key in token},
        "poll_interval_seconds": provider.update_interval.total_seconds(),
        "first_poll_delay_seconds": round(coordinator.first_poll_delay.total_seconds()),
        "polling_disabled": entry.pref_disable_polling,
        "last_rate_limit": (
            {
                "at": rate_limit.at.isoformat(),
                "retry_after_seconds": rate_limit.retry_after,
            }
            if (rate_limit := coordinator.last_rate_limit)
            else None
        ),
        "personal_sensors": bool(entry.options.get(CONF_PERSONAL_DATA)),
        "events": {
            "cursor_age_seconds": coordinator.feed.cursor_age(),
            "pending": len(coordinator.feed.pending),
        },
        "writes": dict(sorted(coordinator.writes.items())),
        "history": coordinator.history.diagnostics() if coordinator.history else {"state": "off"},
        "calendar": calendar.diagnostics() if (calendar := account_calendar(hass, entry)) else None,
        "answers": {
            endpoint: {
                "status": answer.status,
                "content_type": answer.content_type,
                "shape": answer.shape,
            }
            for endpoint, answer in sorted(coordinator.tracker.client.api.answers.items())
        },
        "last_update_success": coordinator.last_update_success,
        "last_exception": repr(coordinator.last_exception) if coordinator.last_exception else None,
        "values_present": None
        if snapshot is None
        else {
            description.key: description.value_fn(snapshot) is not None
            for description in sorted(provider.sensors, key=lambda description: description.key)
        },
        "values_from_earlier_measurements": None
        if snapshot is None
        else sorted(
            description.key
            for description in provider.sensors
            if description.measured_at_fn(snapshot) is not None
        ),
    }
