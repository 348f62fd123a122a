"""Polling follows each service's pace: spread over accounts, paused on 429, no user interval."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import itertools
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.health_trackers.clients.api import MAX_RETRY_AFTER, retry_after_seconds
from custom_components.health_trackers.const import CONF_PROVIDER, DOMAIN
from fakes import FakeSportTracks, SportTracksAccount

from .conftest import NOW, AddAccount, ExpectedLog, async_poll

POLL = timedelta(minutes=15)
LIST = "/api/v2/fitnessActivities"
LATEST_TYPE = "sensor.sporttracks_16964_workout_type"


def _polls(fake: FakeSportTracks) -> list[str]:
    """The bearer token of every workout-list request, in order."""
    return [r.headers["Authorization"] for r in fake.requests if r.path == LIST]


async def test_accounts_started_together_poll_apart(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    add_account: AddAccount,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Eight accounts set up in the same second (as at every start) poll evenly spread.

    Each keeps its place in the interval, so the service never sees them in one burst.
    """
    uids = [str(20_000 + index) for index in range(8)]
    for uid in uids:
        sporttracks.add_account(SportTracksAccount(uid, f"User {uid}"))
        sporttracks.current_user = uid
        assert (await add_account())["type"] is FlowResultType.CREATE_ENTRY
    entries = hass.config_entries.async_entries(DOMAIN)
    # As when Home Assistant starts: every entry set up at the same instant.
    await asyncio.gather(*(hass.config_entries.async_reload(entry.entry_id) for entry in entries))
    tokens = {f"Bearer {entry.data['token']['access_token']}": entry.unique_id for entry in entries}
    sporttracks.requests.clear()
    seen: dict[str, list[float]] = {}
    step = timedelta(seconds=1)
    for tick in range(1, 2 * int(POLL / step) + 1):
        before = len(_polls(sporttracks))
        await async_poll(hass, frozen_now, step)
        for token in _polls(sporttracks)[before:]:
            seen.setdefault(tokens[token], []).append(tick * step.total_seconds())
    assert sorted(seen) == sorted(tokens.values())
    first = sorted(times[0] for times in seen.values())
    # One poll per interval each, every interval at the same place.
    assert all(len(times) == 2 for times in seen.values()), seen
    assert all(times[1] - times[0] == POLL.total_seconds() for times in seen.values()), seen
    gaps = [later - earlier for earlier, later in itertools.pairwise(first)]
    assert min(gaps) >= 60, first  # evenly spread: 15 minutes * 0.9 / 8 accounts apart
    assert first[0] >= POLL.total_seconds() / 10, first


async def test_retry_after_pauses_polling(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """A 429 with Retry-After: no request before that time, then polling resumes at its pace."""
    expect_log("Error fetching SportTracks 16964 data: SportTracks asks us to slow down")
    await async_poll(hass, frozen_now, POLL)
    sporttracks.fail(429, "{}", headers={"Retry-After": "3600"}, times=1)
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    limit = entry.runtime_data.last_rate_limit
    assert limit is not None
    assert limit.retry_after == 3600
    asked = sporttracks.count(LIST)
    for _ in range(3):  # 45 minutes: inside the hour the service asked for
        await async_poll(hass, frozen_now, POLL)
    assert sporttracks.count(LIST) == asked
    await async_poll(hass, frozen_now, POLL + timedelta(seconds=2))
    assert sporttracks.count(LIST) == asked + 1
    assert hass.states.get(LATEST_TYPE).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    await async_poll(hass, frozen_now, POLL)
    assert sporttracks.count(LIST) == asked + 2


async def test_short_retry_after_keeps_the_pace(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """Retry-After: 5 means "not before 5 s", not "poll again in 5 s": the usual interval holds."""
    expect_log("Error fetching SportTracks 16964 data: SportTracks asks us to slow down")
    await async_poll(hass, frozen_now, POLL)
    sporttracks.fail(429, "{}", headers={"Retry-After": "5"}, times=1)
    await async_poll(hass, frozen_now, POLL)
    asked = sporttracks.count(LIST)
    await async_poll(hass, frozen_now, timedelta(minutes=1))
    assert sporttracks.count(LIST) == asked
    await async_poll(hass, frozen_now, POLL)
    assert sporttracks.count(LIST) == asked + 1


async def test_429_without_retry_after_keeps_the_pace(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """Without Retry-After the next poll comes at the usual interval."""
    expect_log("Error fetching SportTracks 16964 data: SportTracks asks us to slow down")
    await async_poll(hass, frozen_now, POLL)
    sporttracks.fail(429, "{}", times=1)
    await async_poll(hass, frozen_now, POLL)
    asked = sporttracks.count(LIST)
    await async_poll(hass, frozen_now, POLL)
    assert sporttracks.count(LIST) == asked + 1
    assert entry.runtime_data.last_rate_limit is not None
    assert entry.runtime_data.last_rate_limit.retry_after is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("0", 1.0),
        ("-5", 1.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("999999999", float(MAX_RETRY_AFTER)),
        ("Fri, 20 Nov 2026 12:10:00 GMT", 600.0),
        ("Fri, 20 Nov 2026 11:00:00 GMT", 1.0),
    ],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    """Delay-seconds or an HTTP date; anything else is ignored, and the wait is bounded."""
    assert retry_after_seconds(header, NOW) == seconds


async def test_old_entries_lose_the_poll_interval_and_keep_the_rest(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """An entry from version 1.1 with a user-set interval loads at the service's pace, its
    provider's key now stored as ``provider``."""
    data, unique_id, title = dict(entry.data), entry.unique_id, entry.title
    await hass.config_entries.async_remove(entry.entry_id)
    stored = {key: value for key, value in data.items() if key != CONF_PROVIDER}
    old = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        minor_version=1,
        unique_id=unique_id,
        title=title,
        data={**stored, "service": data[CONF_PROVIDER]},
        options={"update_interval": 60, "personal_data": False},
    )
    old.add_to_hass(hass)
    await hass.config_entries.async_setup(old.entry_id)
    await hass.async_block_till_done()
    assert old.state is ConfigEntryState.LOADED
    assert (old.version, old.minor_version) == (2, 1)
    assert dict(old.options) == {"personal_data": False}
    assert old.data == data
    assert old.runtime_data.update_interval == old.runtime_data.first_poll_delay
    sporttracks.requests.clear()
    await async_poll(hass, frozen_now, POLL)
    await async_poll(hass, frozen_now, POLL)
    assert sporttracks.count(LIST) == 2


async def test_entry_from_a_newer_version_is_left_alone(
    hass: HomeAssistant, expect_log: ExpectedLog
) -> None:
    """A downgrade: the entry is not touched and not loaded."""
    expect_log("has version 3 which is higher than the current version 2")
    entry = MockConfigEntry(
        domain=DOMAIN, version=3, data={CONF_PROVIDER: "sporttracks"}, unique_id="x"
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.data == {CONF_PROVIDER: "sporttracks"}


async def test_unknown_service_fails_plainly(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, expect_log: ExpectedLog
) -> None:
    """An entry for a service this version does not know: a clear, translated error."""
    expect_log("Error setting up entry .* for health_trackers")
    caplog.set_level(logging.ERROR)
    entry = MockConfigEntry(
        domain=DOMAIN, version=2, data={CONF_PROVIDER: "fitbit"}, unique_id="fitbit_1"
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    strings = await async_get_translations(hass, "en", "exceptions", [DOMAIN])
    message = strings[f"component.{DOMAIN}.exceptions.unknown_service.message"]
    assert entry.reason == message.format(service="fitbit").rstrip(".")
    assert "KeyError" not in caplog.text


async def test_polling_can_be_left_to_the_user(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Polling disabled in the entry's system options: no requests until update_entity asks."""
    hass.config_entries.async_update_entry(entry, pref_disable_polling=True)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    sporttracks.requests.clear()
    for _ in range(4):
        await async_poll(hass, frozen_now, POLL)
    assert sporttracks.count(LIST) == 0
    assert await async_setup_component(hass, "homeassistant", {})
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": LATEST_TYPE}, blocking=True
    )
    assert sporttracks.count(LIST) == 1
