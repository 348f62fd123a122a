"""Token refreshes that must not lose a sign-in: odd lifetimes, hard stops, late answers, 429."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest

from custom_components.health_trackers.const import DOMAIN
from fakes import FakeSportTracks

from .conftest import ExpectedLog, async_poll

POLL = timedelta(minutes=15)
TOKEN_LIFETIME = timedelta(hours=2)
LATEST_TYPE = "sensor.sporttracks_16964_workout_type"
TOKEN_PATH = "/oauth2/token"


def _refresh_answer(expires_in: Any) -> str:
    return json.dumps(
        {"access_token": "unknown-to-the-fake", "refresh_token": "r2", "expires_in": expires_in}
    )


async def _refresh_at_next_poll(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Make the stored access token stale, so the next poll refreshes it first."""
    token = {**entry.data["token"], "expires_at": 0}
    hass.config_entries.async_update_entry(entry, data={**entry.data, "token": token})


# The fault matrix's lifetime rows hold "Infinity", -5 and 10**12 (and the numbers 1e999 and NaN).
@pytest.mark.parametrize("expires_in", ["1e999", 0, "NaN", None, [], "soon"])
async def test_unbelievable_lifetime_is_the_documented_one(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
    expires_in: Any,
) -> None:
    """A refresh answer whose lifetime cannot be believed keeps the new tokens, for two hours."""
    expect_log("Error fetching SportTracks 16964 data")
    await _refresh_at_next_poll(hass, entry)
    sporttracks.fail(200, _refresh_answer(expires_in), scope="token", times=1)
    # The made-up access token is refused: the poll fails, but nothing is lost.
    sporttracks.fail(503, "{}", times=1)
    await async_poll(hass, frozen_now, POLL)
    token = entry.data["token"]
    assert token["refresh_token"] == "r2"
    assert token["access_token"] == "unknown-to-the-fake"
    assert token["expires_in"] == TOKEN_LIFETIME.total_seconds()
    assert entry.state is ConfigEntryState.LOADED
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_rotated_refresh_token_survives_a_hard_stop(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Killed right after the service rotated the refresh token: the new one is on disk already.

    The entry itself is written a second later, so after a kill it still holds the old refresh
    token, which the service no longer accepts; the integration reads the new one back.
    """
    old_token = dict(entry.data["token"])
    await _refresh_at_next_poll(hass, entry)
    await async_poll(hass, frozen_now, POLL)
    assert entry.data["token"]["refresh_token"] != old_token["refresh_token"]
    journal = hass_storage[f"{DOMAIN}.{entry.entry_id}.refresh_token"]["data"]
    assert journal["refresh_token"] == entry.data["token"]["refresh_token"]
    assert old_token["refresh_token"] not in json.dumps(journal)

    # What the disk holds after the kill: the entry as it was before the refresh (whose access
    # token had run out, which is why it was refreshed).
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "token": {**old_token, "expires_at": 0}}
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(LATEST_TYPE).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)

    # Once the entry has surely been written, the journal goes.
    await async_poll(hass, frozen_now, timedelta(minutes=1))
    assert f"{DOMAIN}.{entry.entry_id}.refresh_token" not in hass_storage


async def test_without_the_journal_a_hard_stop_would_need_a_new_sign_in(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    expect_log: ExpectedLog,
) -> None:
    """The control: the old refresh token alone is refused, so the journal is what saves it."""
    expect_log("could not authenticate|Authentication failed while fetching")
    old_token = dict(entry.data["token"])
    await _refresh_at_next_poll(hass, entry)
    await async_poll(hass, frozen_now, POLL)
    del hass_storage[f"{DOMAIN}.{entry.entry_id}.refresh_token"]
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "token": {**old_token, "expires_at": 0}}
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("{" * 100_000, {}),
        ('{"access_token": "' + "a" * 100_000 + '"}', {}),
        (b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}),
    ],
    ids=["deep", "huge", "bad gzip"],
)
async def test_unreadable_token_answer_keeps_the_sign_in(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
    body: str | bytes,
    headers: dict[str, str],
) -> None:
    """A token answer that cannot be read is a passing failure: no reauth, the next poll recovers."""
    expect_log("Error fetching SportTracks 16964 data: SportTracks is unavailable")
    await _refresh_at_next_poll(hass, entry)
    refresh_token = entry.data["token"]["refresh_token"]
    sporttracks.fail(200, body, scope="token", headers=headers, times=1)
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert entry.data["token"]["refresh_token"] == refresh_token
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
