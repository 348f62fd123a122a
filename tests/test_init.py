"""Setup, polling cost, token refresh, errors and recovery, against the running fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import json
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.health_trackers.const import CONF_PROVIDER, DOMAIN
from fakes import FakeService, FakeSportTracks
from fakes.sporttracks import DEFAULT_CLIENT, Workout

from .conftest import NOW, SERVICES, Consent, ExpectedLog, async_poll, reauth_flow

POLL = timedelta(minutes=15)
LATEST_TYPE = "sensor.sporttracks_16964_workout_type"
WEEK_WORKOUTS = "sensor.sporttracks_16964_workouts_last_7_days"


def api_calls(fake: FakeSportTracks) -> list[tuple[str, str, dict[str, str]]]:
    """What the fake was asked, without the headers."""
    return [(r.method, r.path, r.query) for r in fake.requests]


IDLE_POLL: dict[str, tuple[timedelta, list[tuple[str, dict[str, str]]]]] = {
    "sporttracks": (POLL, [("/api/v2/fitnessActivities", {"pageSize": "1", "data": "summary"})]),
    # Boditrax tokens live 30 minutes, as long as the poll interval: a refresh comes with it.
    "boditrax": (
        timedelta(minutes=30),
        [("/oauth/token", {}), ("/rest/v2.10/readings", {"limit": "1"})],
    ),
    "boditrax_facility": (POLL, [("/rest/v2.10/facilities/f_1/statistics", {})]),
    "bactrack": (
        timedelta(minutes=5),
        [("/v1/readings/", {"format": "json", "person": "me", "limit": "10", "offset": "0"})],
    ),
}
"""Service → its poll interval, and the requests a poll with nothing new costs."""


@pytest.mark.parametrize("service", SERVICES)
async def test_idle_poll_costs_one_request(
    hass: HomeAssistant,
    service_entry: ConfigEntry,
    fake: FakeService,
    frozen_now: FrozenDateTimeFactory,
    service: str,
) -> None:
    """Nothing new at the service: one small data request per poll, nothing else."""
    interval, expected = IDLE_POLL[service]
    fake.requests.clear()
    await async_poll(hass, frozen_now, interval)
    assert [(r.path, r.query) for r in fake.requests] == expected
    data_request = expected[-1]
    fake.requests.clear()
    await async_poll(hass, frozen_now, interval)
    assert [(r.path, r.query) for r in fake.requests if not r.path.startswith("/oauth")] == [
        data_request
    ]


async def test_new_workout_fetches_detail_and_week(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """A new workout costs the probe, the list down to the known one and its detail."""
    before = int(hass.states.get(WEEK_WORKOUTS).state)
    account = sporttracks.accounts["16964"]
    account.add_workout(
        Workout(
            id=42,
            start=NOW + timedelta(minutes=5),
            offset="-02:-30",
            type="Rowing",
            name="",
            duration=1800.0,
            distance=6000.0,
            calories_kj=1500,
            avg_heartrate=150,
            max_heartrate=175,
            legacy_privacy=True,
        )
    )
    sporttracks.requests.clear()
    await async_poll(hass, frozen_now, POLL)
    calls = api_calls(sporttracks)
    assert [(path, query.get("pageSize")) for _, path, query in calls] == [
        ("/api/v2/fitnessActivities", "1"),
        ("/api/v2/fitnessActivities", "100"),
        ("/api/v2/fitnessActivities/42", None),
    ]
    assert hass.states.get(LATEST_TYPE).state == "Rowing"
    assert (
        hass.states.get("sensor.sporttracks_16964_workout_start").state
        == "2026-11-20T12:05:00+00:00"
    )
    assert hass.states.get("sensor.sporttracks_16964_workout_distance").state == "6.0"
    assert hass.states.get("sensor.sporttracks_16964_workout_avg_speed").state == "12.0"
    assert int(hass.states.get(WEEK_WORKOUTS).state) == before + 1


async def test_week_totals_age_without_requests(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Workouts leave the 7-day window on time although nothing is fetched again."""
    account = sporttracks.accounts["16964"]
    expected = sum(
        1 for w in account.workouts if w.start >= NOW + timedelta(days=3) - timedelta(days=7)
    )
    assert int(hass.states.get(WEEK_WORKOUTS).state) > expected
    sporttracks.requests.clear()
    await async_poll(hass, frozen_now, timedelta(days=3))
    assert int(hass.states.get(WEEK_WORKOUTS).state) == expected
    assert [path for _, path, _ in api_calls(sporttracks)] == [
        "/oauth2/token",
        "/api/v2/fitnessActivities",
        "/api/v2/metrics",  # the health metrics, read hourly
    ]


async def test_an_idle_hour_costs_five_requests(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
) -> None:
    """Nothing new for an hour: four polls of the newest workout and one read of the health
    metrics, no more."""
    sporttracks.requests.clear()
    for _ in range(4):
        await async_poll(hass, frozen_now, timedelta(minutes=15))
    assert sorted(path for _, path, _ in api_calls(sporttracks)) == [
        *["/api/v2/fitnessActivities"] * 4,
        "/api/v2/metrics",
    ]


@pytest.mark.parametrize("policy", ["rotate", "keep", "omit"])
async def test_refresh_keeps_or_saves_refresh_token(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    policy: str,
) -> None:
    """After two hours the token is refreshed; a rotated refresh token is stored at once."""
    sporttracks.refresh_policy = policy  # type: ignore[assignment]
    first = entry.data["token"]["refresh_token"]
    for _ in range(2):
        await async_poll(hass, frozen_now, timedelta(hours=2))
        assert hass.states.get(LATEST_TYPE).state != STATE_UNAVAILABLE
        assert entry.data["token"]["refresh_token"] in sporttracks.refresh_tokens
    assert (entry.data["token"]["refresh_token"] == first) is (policy != "rotate")
    token_requests = [r for r in sporttracks.requests if r.path == "/oauth2/token"]
    assert len(token_requests) == 3  # the code, then two refreshes
    assert {r.headers["Content-Type"] for r in token_requests} == {"application/json"}
    assert json.loads(token_requests[-1].body)["grant_type"] == "refresh_token"
    assert entry.data["token"]["expires_at"] > frozen_now.time_to_freeze.timestamp() + 7000  # type: ignore[attr-defined]
    # A restart reads the stored token: it must still work.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await async_poll(hass, frozen_now, timedelta(hours=2))
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(LATEST_TYPE).state != STATE_UNAVAILABLE


async def test_revoked_refresh_token_starts_reauth(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    consent: Consent,
    expect_log: ExpectedLog,
) -> None:
    """invalid_grant on refresh: entities go unavailable and reauth brings them back."""
    expect_log("Authentication failed while fetching SportTracks 16964 data")
    sporttracks.revoke()
    await async_poll(hass, frozen_now, timedelta(hours=2))
    assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE
    result = await reauth_flow(hass, entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await consent(result, "allow")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(LATEST_TYPE).state not in (STATE_UNAVAILABLE, "unknown")


async def test_401_on_data_starts_reauth(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """The service refuses a token we thought valid: ask the user to sign in again."""
    expect_log("Authentication failed while fetching SportTracks 16964 data")
    sporttracks.access_tokens.clear()
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE
    assert (await reauth_flow(hass, entry))["step_id"] == "reauth_confirm"


def _announced_too_large() -> dict[str, object]:
    """A 9 MB answer that says its size: refused before it is read (made when the test runs)."""
    return {"status": 200, "body": '{"items": [' + " " * 9_000_000 + "]}"}


# The fault matrix (test_fault_matrix.py) holds every fault it switches on, for every service,
# with the message each logs; these are the faults it does not switch on.
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"status": 404, "body": "{}"}, "could not read"),
        ({"status": 502, "body": "{}", "scope": "token"}, "unavailable"),
        (_announced_too_large, "larger than"),
        (
            {"status": 200, "body": b"\x1f\x8bnot gzip", "headers": {"Content-Encoding": "gzip"}},
            "cannot be decompressed",
        ),
        ({"status": 200, "body": "{}", "headers": {"Content-Encoding": "br"}}, "encoded as 'br'"),
    ],
    ids=["404", "token-502", "announced-too-large", "not-gzip", "brotli"],
)
async def test_failures_make_entities_unavailable_and_recover(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    fault: dict[str, object] | Callable[[], dict[str, object]],
    message: str,
    expect_log: ExpectedLog,
) -> None:
    """Each failure: unavailable, logged once while down (saying what failed), once when back."""
    expect_log("Error fetching SportTracks 16964 data")
    if callable(fault):
        fault = fault()
    if fault.get("scope") == "token":
        sporttracks.expire_access_tokens()
        entry.data["token"]["expires_at"] = 0  # type: ignore[index]
    sporttracks.fail(**fault)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    for _ in range(3):
        await async_poll(hass, frozen_now, POLL)
        assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE
    errors = [
        r for r in caplog.records if "Error fetching SportTracks 16964 data" in r.getMessage()
    ]
    assert len(errors) == 1
    assert message in errors[0].getMessage()
    assert errors[0].levelno == logging.ERROR, "the one line a user sees, as the README says"
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    sporttracks.clear_faults()
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state != STATE_UNAVAILABLE
    recovered = [
        r for r in caplog.records if "Fetching SportTracks 16964 data recovered" in r.getMessage()
    ]
    assert [r.levelno for r in recovered] == [logging.INFO]


async def test_service_unreachable_then_back(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """Nothing listening (API call, then token refresh): unavailable, no reauth; back when it is."""
    expect_log("Error fetching SportTracks 16964 data")
    await sporttracks.stop()
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE
    await async_poll(hass, frozen_now, timedelta(hours=2))
    assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    await sporttracks.start()
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == "Running"


@pytest.mark.parametrize("service", SERVICES)
async def test_unload(
    hass: HomeAssistant,
    service_entry: ConfigEntry,
    fake: FakeService,
    frozen_now: FrozenDateTimeFactory,
    service: str,
) -> None:
    """Unloading stops polling: no request while hours of polls go by; it loads and polls again."""
    assert await hass.config_entries.async_unload(service_entry.entry_id)
    assert service_entry.state is ConfigEntryState.NOT_LOADED
    fake.requests.clear()
    for _ in range(6):  # two to twelve poll intervals, past every token's lifetime
        await async_poll(hass, frozen_now, timedelta(minutes=30))
    assert not fake.requests, [r.path for r in fake.requests]
    assert await hass.config_entries.async_setup(service_entry.entry_id)
    await hass.async_block_till_done()
    assert service_entry.state is ConfigEntryState.LOADED
    assert fake.requests, "loaded again, it reads the service"


async def test_missing_credential_asks_for_reauth(
    hass: HomeAssistant,
    sporttracks: FakeSportTracks,
    credentials: None,
    current_request_with_host: None,
    expect_log: ExpectedLog,
) -> None:
    """An entry whose credential is gone cannot load and asks the user to sign in again."""
    expect_log("could not authenticate: The application credential this entry used is gone")
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id="sporttracks_16964",
        data={CONF_PROVIDER: "sporttracks", "auth_implementation": "gone", "token": {}},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    result = await reauth_flow(hass, entry)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.EXTERNAL_STEP  # with the stored SportTracks credential


async def test_detail_that_is_not_an_object(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """A workout detail of the wrong shape is a failed poll, not a crash; the next poll retries it."""
    expect_log("Error fetching SportTracks 16964 data")
    sporttracks.accounts["16964"].add_workout(
        Workout(
            id=43,
            start=NOW + timedelta(minutes=1),
            offset="Z",
            type="Yoga",
            name="",
            duration=600.0,
        )
    )
    sporttracks.fail(200, "[]", times=1, path="/api/v2/fitnessActivities/43")
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == "Yoga"


async def test_redirects_are_not_followed(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    expect_log: ExpectedLog,
) -> None:
    """A redirect from the token endpoint is a failure: the secret is never sent on."""
    expect_log("Error fetching SportTracks 16964 data")
    entry.data["token"]["expires_at"] = 0  # type: ignore[index]
    sporttracks.fail(307, "", scope="token", headers={"Location": "/captured"}, times=1)
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == STATE_UNAVAILABLE
    assert not sporttracks.count("/captured")
    await async_poll(hass, frozen_now, POLL)
    assert hass.states.get(LATEST_TYPE).state == "Running"


async def test_no_secret_reaches_the_log(
    hass: HomeAssistant,
    entry: ConfigEntry,
    sporttracks: FakeSportTracks,
    frozen_now: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    expect_log: ExpectedLog,
) -> None:
    """Refresh, a refused refresh and failed polls, at debug level: no token or secret is logged."""
    expect_log("Error fetching SportTracks 16964 data")
    caplog.set_level(logging.DEBUG)
    first = dict(entry.data["token"])
    await async_poll(hass, frozen_now, timedelta(hours=2))
    second = dict(entry.data["token"])
    sporttracks.fail(503, "{}", times=1)
    await async_poll(hass, frozen_now, POLL)
    sporttracks.revoke()
    await async_poll(hass, frozen_now, timedelta(hours=2))
    ours = [r for r in caplog.records if r.name.startswith(("homeassistant", "custom_components"))]
    assert any(r.name.startswith("custom_components.health_trackers") for r in ours)
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in ours)
    for secret in (
        first["access_token"],
        first["refresh_token"],
        second["access_token"],
        second["refresh_token"],
        DEFAULT_CLIENT.client_secret,
    ):
        assert secret not in text
