"""Issue 10's fault matrix: every fault against every service, through Home Assistant and the fakes.

A row switches one fault on at a fake, for its data requests or (OAuth 2.0 services) for its
token requests, polls through it, clears it and polls again. Per row it asserts what a user relies
on: the entry stays loaded; its entities are unavailable while the fault lasts, and never show a
value the service does not hold (``Subject.truth`` reads it from the fake); values come
back once the fault clears; the tokens still work at the service, in memory and on disk, and
reauth is asked for only when the service refused them (401 on data, 400/401 on a refresh); one
log line while down, saying what failed (``Case.says``), and one when back, never a traceback.
JSON of a shape the client does not read (``Case.reported``) also raises one repair naming the
service, the endpoint and what the answer lacked, while diagnostics show the answer's shape and
none of its values; no such repair outlives the fault. The matrix is the one place for these faults: other tests switch on only faults it does not.

Each row adds data at the fake before every poll, so a poll that "succeeds" with stale or
misread values is caught. Timeouts use a small patched request timeout and the frozen clock, so
nothing here waits in real time. The matrix (faults tried / survived / tokens lost, per service,
and row by row) is printed in the terminal summary.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Callable, Iterator
import contextlib
import copy
from dataclasses import dataclass, field
from datetime import timedelta
import enum
import json
import logging
import math
import time
import tracemalloc
from typing import Any, ClassVar

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.health_trackers import application_credentials
from custom_components.health_trackers.clients import api
from custom_components.health_trackers.const import CONF_PERSONAL_DATA, DOMAIN
from custom_components.health_trackers.diagnostics import async_get_config_entry_diagnostics
from custom_components.health_trackers.providers import PROVIDERS
from fakes import (
    BACReading,
    FakeBACtrack,
    FakeBoditrax,
    FakeService,
    FakeSportTracks,
    Reading,
)
from fakes.base import (
    deep_json,
    gzip_bomb,
    huge_json,
    lengthen,
    long_texts,
    numbers_as_strings,
)
from fakes.boditrax import DEFAULT_CLIENT as BODITRAX_CLIENT, FacilityScan
from fakes.oauth2 import OAuth2Service
from fakes.sporttracks import Workout

from .conftest import (
    NOT_TESTED_NOTICE,
    SERVICES,
    AddAccount,
    ExpectedLog,
    _about_us,
    async_poll,
    entry_added,
)
from .matrix_report import Row

DATA, TOKEN = "data", "token"
FAKE_SCOPE = {DATA: "api", TOKEN: "token"}
TIMEOUT = 2.0
"""The request timeout while a row runs (patched): requests held longer have timed out."""
HOLD = 24 * 3600.0
"""How long a "timeout" fault holds requests back: longer than any row lasts."""
FAULT_POLLS = 3
RETRY_AFTER = 3600
HUGE = 48 * 2**20
"""A plain body this large, sent chunked without ``Content-Length``."""
BOMB = 128 * 2**20
"""What the gzip bomb inflates to (about 125 KB on the wire)."""
MEMORY_BOUND = 48 * 2**20
"""The most a poll may allocate while refusing a huge body: six times the 8 MB data limit (a
refusal takes about 33 MB); reading the 48 MB body in full takes twice that at least."""
SPIN = 200_000
"""Event-loop turns to wait for a request to reach the fake (it travels over real sockets)."""
STATE_LENGTH = 255
UNREAD_TEXT, UNREAD_NUMBER = "not the list 7f3a", 91.375
"""Values in a wrong-shape answer: its shape reaches diagnostics, they never do."""
OAUTH2 = tuple(key for key in SERVICES if PROVIDERS[key].oauth2 is not None)
REFRESHING = tuple(
    key
    for key in OAUTH2
    if not PROVIDERS[key].oauth2.application_access  # type: ignore[union-attr]
)
"""Services whose entries keep a refresh token (a facility's app asks for a new token instead)."""


# -- what the fake holds, and how an entity may show it -------------------------------------


@dataclass(frozen=True)
class Expect:
    """A value the service holds; ``prefix`` for long texts, which may be cut to fit a state."""

    value: str | float
    prefix: bool = False

    def matches(self, state: str) -> bool:
        """Whether an entity's state shows this value."""
        if isinstance(self.value, float):
            try:
                return math.isclose(float(state), self.value, rel_tol=1e-4)
            except ValueError:
                return False
        if self.prefix:
            shown = state.rstrip("…").rstrip()
            return 0 < len(state) <= STATE_LENGTH and self.value.startswith(shown) and bool(shown)
        return state == self.value


class Subject(ABC):
    """One signed-in account of one service, with what a row needs to drive and check it."""

    service: ClassVar[str]
    interval: ClassVar[timedelta]
    wrong_shape: ClassVar[str]
    """A data answer that is JSON, but not the shape the service's contract promises."""
    long_text_keys: ClassVar[tuple[str, ...]]
    """Keys of the service's answers whose text a "long texts" row lengthens."""

    def __init__(
        self,
        hass: HomeAssistant,
        fake: FakeService,
        entry: ConfigEntry,
        freezer: FrozenDateTimeFactory,
        caplog: pytest.LogCaptureFixture,
        storage: dict[str, Any],
    ) -> None:
        """Wrap an entry that has just been added."""
        self.hass = hass
        self.fake = fake
        self.entry = entry
        self.freezer = freezer
        self.caplog = caplog
        self.storage = storage
        self.news = 0
        self.long_texts = False
        self.holding = False
        """Whether requests are held past the timeout now (a "timeout" row)."""
        registry = er.async_get(hass)
        self.entity_ids = {
            item.entity_id for item in er.async_entries_for_config_entry(registry, entry.entry_id)
        }
        """The entry's entities: Home Assistant's own lines about them name only these."""

    # -- service specifics --------------------------------------------------------------------

    @abstractmethod
    def truth(self) -> dict[str, Expect]:
        """Sensor key → what the fake holds for it now."""

    @abstractmethod
    def add_news(self) -> None:
        """Something new at the service, which the next successful poll must show."""

    @abstractmethod
    def alive(self, data: dict[str, Any]) -> bool:
        """Whether the credentials in an entry's data still work at the service."""

    def text(self, value: str | None) -> Expect:
        """A text sensor's expectation: as is, or lengthened while a long-texts row runs."""
        if value is None:
            return Expect(STATE_UNKNOWN)
        return Expect(lengthen(value), prefix=True) if self.long_texts else Expect(value)

    @property
    def lifetime(self) -> timedelta:
        """How long an access token really lives (OAuth 2.0 services)."""
        assert isinstance(self.fake, OAuth2Service)
        return timedelta(seconds=self.fake.access_token_lifetime)

    # -- driving ------------------------------------------------------------------------------

    def entity_id(self, key: str) -> str:
        """The entity of a sensor key."""
        unique_id = f"{self.entry.unique_id}_{key}"
        entity_id = er.async_get(self.hass).async_get_entity_id("sensor", DOMAIN, unique_id)
        assert entity_id is not None, unique_id
        return entity_id

    def states(self) -> dict[str, str]:
        """Sensor key → the state its entity shows now."""
        shown = {}
        for key in self.truth():
            state = self.hass.states.get(self.entity_id(key))
            assert state is not None, key
            shown[key] = state.state
        return shown

    async def poll(self, delta: timedelta | None = None) -> None:
        """Let ``delta`` (an interval) pass and run the poll that became due."""
        delta = delta or self.interval
        if not self.holding:
            await async_poll(self.hass, self.freezer, delta)
            return
        held = self.fake.held
        self.freezer.tick(delta)
        async_fire_time_changed(self.hass)
        for _ in range(SPIN):
            if self.fake.held > held:
                break
            await asyncio.sleep(0)
        else:
            pytest.fail("the poll sent no request for the fake to hold")
        self.freezer.tick(TIMEOUT + 1)  # the clock is frozen: move it past the deadline
        await self.hass.async_block_till_done(wait_background_tasks=True)

    async def flush_storage(self) -> None:
        """Let two seconds pass: Home Assistant writes config entries a second after a change."""
        await async_poll(self.hass, self.freezer, timedelta(seconds=2))

    def force_refresh(self) -> None:
        """The access token runs out now, at the service and in the entry: the next poll refreshes."""
        assert isinstance(self.fake, OAuth2Service)
        token = {**self.entry.data["token"], "expires_at": 0}
        self.hass.config_entries.async_update_entry(
            self.entry, data={**self.entry.data, "token": token}
        )
        self.fake.expire_access_tokens()

    def clear(self) -> None:
        """The fault is over."""
        self.fake.clear_faults()
        self.long_texts = self.holding = False
        if isinstance(self.fake, OAuth2Service):
            self.fake.expires_in_json = None

    def requests(self, scope: str) -> int:
        """Requests the fake received in a row's scope."""
        token_paths = (
            (self.fake.token_path,)
            if isinstance(self.fake, OAuth2Service)
            else ("/oauth/request_token/", "/oauth/access_token/")
        )
        return sum(
            (request.path in token_paths) == (scope == TOKEN) for request in self.fake.requests
        )

    def stored(self, storage: dict[str, Any] | None = None) -> dict[str, Any]:
        """The entry's data as ``.storage/core.config_entries`` holds it."""
        entries = (storage or self.storage)["core.config_entries"]["data"]["entries"]
        (data,) = [item["data"] for item in entries if item["entry_id"] == self.entry.entry_id]
        return dict(data)

    async def restart_from(self, snapshot: dict[str, Any]) -> None:
        """Home Assistant killed and started again: only ``snapshot`` of the storage survived."""
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        self.storage.clear()
        self.storage.update(copy.deepcopy(snapshot))
        self.hass.config_entries.async_update_entry(self.entry, data=self.stored(snapshot))
        await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.hass.async_block_till_done()

    # -- checks -------------------------------------------------------------------------------

    def assert_loaded(self) -> None:
        """The entry is (still) loaded."""
        assert self.entry.state is ConfigEntryState.LOADED, f"entry is {self.entry.state}"

    def assert_shown(self) -> None:
        """Every sensor shows what the service holds."""
        truth, shown = self.truth(), self.states()
        wrong = {key: shown[key] for key, expect in truth.items() if not expect.matches(shown[key])}
        assert not wrong, f"entities do not show what the service holds: {wrong} vs {truth}"

    def assert_unavailable(self) -> None:
        """Every sensor is unavailable (and so shows nothing wrong)."""
        shown = self.states()
        assert set(shown.values()) == {STATE_UNAVAILABLE}, f"not unavailable: {shown}"

    def assert_never_wrong(self) -> None:
        """Every sensor is unavailable or shows what the service holds."""
        truth, shown = self.truth(), self.states()
        wrong = {
            key: state
            for key, state in shown.items()
            if state != STATE_UNAVAILABLE and not truth[key].matches(state)
        }
        assert not wrong, f"entities show values the service does not hold: {wrong}"

    def reauth_flows(self) -> list[Any]:
        """Reauth flows in progress for the entry."""
        return [
            flow
            for flow in self.hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"].get("source") == SOURCE_REAUTH
            and flow["context"].get("entry_id") == self.entry.entry_id
        ]

    def assert_no_reauth(self) -> None:
        """Nobody is asked to sign in again."""
        assert not self.reauth_flows(), "reauth was started although the service refused nothing"

    def answer_issue(self) -> ir.IssueEntry | None:
        """The repair that says the service answers in a shape we do not read, if raised."""
        issue_id = f"unexpected_answer_{self.entry.entry_id}"
        return ir.async_get(self.hass).async_get_issue(DOMAIN, issue_id)

    async def assert_reported(self) -> None:
        """A repair names the service, the endpoint and what its answer lacked, and links the
        bug form; diagnostics show the answer's shape and none of its values."""
        issue = self.answer_issue()
        assert issue is not None, "no repair says the answer could not be read"
        placeholders = issue.translation_placeholders or {}
        assert placeholders["service"] == PROVIDERS[self.entry.data["provider"]].name
        assert placeholders["endpoint"].startswith("GET /"), placeholders
        assert placeholders["expected"], placeholders
        assert "issues/new" in (issue.learn_more_url or "")
        diagnostics = await async_get_config_entry_diagnostics(self.hass, self.entry)
        text = json.dumps(diagnostics)
        for value in (UNREAD_TEXT, str(UNREAD_NUMBER)):
            assert value not in text, f"diagnostics hold {value!r} from the answer"
        shape = json.dumps(diagnostics["answers"][placeholders["endpoint"]])
        assert f'"string({len(UNREAD_TEXT)})"' in shape, shape

    def about(self, record: logging.LogRecord) -> bool:
        """A log record about this integration or this account."""
        message = record.getMessage()
        if NOT_TESTED_NOTICE in message:
            return False
        return (
            _about_us(record)
            or self.entry.title in message
            or DOMAIN in message
            or any(entity_id in message for entity_id in self.entity_ids)
        )

    def mark(self) -> int:
        """Where the log is now, to count the lines a phase adds."""
        return len(self.caplog.records)

    def lines(self, since: int, level: int = logging.WARNING) -> list[str]:
        """Log lines about us at ``level`` or above since ``mark``."""
        return [
            f"{record.levelname} {record.getMessage()}"
            for record in self.caplog.records[since:]
            if record.levelno >= level and self.about(record)
        ]

    def assert_not_reported(self) -> None:
        """No repair about an unreadable answer (any there was went with a good answer)."""
        assert self.answer_issue() is None, "a repair still says the answer could not be read"

    def assert_logged(
        self, since: int, *, at_most: int, recovered: int = 0, saying: str = ""
    ) -> None:
        """At most ``at_most`` warnings or errors since ``since`` (exactly one ``saying`` what
        failed, when given), and exactly ``recovered`` lines back."""
        lines = self.lines(since)
        assert len(lines) <= at_most, f"{len(lines)} log lines (at most {at_most}): {lines}"
        if saying:
            assert len(lines) == 1, f"not one log line saying {saying!r}: {lines}"
            assert saying in lines[0], f"the log line does not say {saying!r}: {lines[0]}"
        back = [line for line in self.lines(since, logging.INFO) if "recovered" in line]
        assert len(back) == recovered, f"{len(back)} recovery lines (not {recovered}): {back}"

    def assert_no_traceback(self) -> None:
        """No log record about us carries a traceback or reports an unexpected error."""
        tracebacks = [
            record.getMessage()
            for record in self.caplog.records
            if record.levelno >= logging.INFO
            and self.about(record)
            and (record.exc_info or "Unexpected error" in record.getMessage())
        ]
        assert not tracebacks, f"tracebacks logged: {tracebacks}"

    async def assert_tokens_kept(self) -> None:
        """The credentials work at the service, in the entry and on disk alike."""
        await self.flush_storage()
        assert self.alive(dict(self.entry.data)), "the entry's credentials no longer work"
        assert self.alive(self.stored()), "the credentials on disk no longer work"

    def tokens_lost(self) -> bool:
        """Whether the entry (if it still exists) holds credentials the service no longer takes."""
        if self.hass.config_entries.async_get_entry(self.entry.entry_id) is None:
            return False
        return not self.alive(dict(self.entry.data))


class SportTracksSubject(Subject):
    """SportTracks user 16964."""

    service = "sporttracks"
    interval = timedelta(minutes=15)
    wrong_shape = json.dumps({"items": UNREAD_TEXT, "size": UNREAD_NUMBER})
    long_text_keys = ("type", "name")
    fake: FakeSportTracks

    def truth(self) -> dict[str, Expect]:
        workouts = self.fake.accounts["16964"].workouts
        newest = workouts[0]
        week = dt_util.utcnow() - timedelta(days=7)
        assert newest.distance is not None
        return {
            "latest_workout_type": self.text(newest.type),
            "latest_workout_start": Expect(newest.start.isoformat()),
            "latest_workout_distance": Expect(newest.distance / 1000),  # shown in km
            "week_workouts": Expect(float(sum(w.start >= week for w in workouts))),
        }

    def add_news(self) -> None:
        self.news += 1
        self.fake.accounts["16964"].add_workout(
            Workout(
                id=2_000_000 + self.news,
                start=dt_util.utcnow().replace(microsecond=0) - timedelta(minutes=1),
                offset="Z",
                type="Rowing" if self.news % 2 else "Running",
                name="evening row",
                duration=1800.0 + self.news,
                distance=5000.0 + 10 * self.news,
                calories_kj=1500,
            )
        )

    def alive(self, data: dict[str, Any]) -> bool:
        return _refresh_token_alive(self.fake, data)


class BoditraxSubject(Subject):
    """Boditrax member m_123."""

    service = "boditrax"
    interval = timedelta(minutes=30)
    wrong_shape = json.dumps({"readings": UNREAD_TEXT, "weight": UNREAD_NUMBER})
    long_text_keys = ("id", "facility")
    fake: FakeBoditrax

    def truth(self) -> dict[str, Expect]:
        newest = self.fake.members["m_123"].readings[0]
        return {
            "weight": Expect(newest.measurements["BodyWeight"]),
            "fat_mass": Expect(newest.measurements["FatMass"]),
            "scan_time": Expect(newest.date.isoformat()),
        }

    def add_news(self) -> None:
        self.news += 1
        self.fake.members["m_123"].add_reading(
            Reading(
                f"r_matrix_{self.news}",
                dt_util.utcnow().replace(microsecond=0) - timedelta(minutes=1),
                {"BodyWeight": 80.0 + self.news / 10, "FatMass": 15.0 + self.news / 10},
            )
        )

    def alive(self, data: dict[str, Any]) -> bool:
        return _refresh_token_alive(self.fake, data)


class BoditraxFacilitySubject(Subject):
    """Boditrax facility f_1, read with the app's own token (client credentials)."""

    service = "boditrax_facility"
    interval = timedelta(minutes=15)
    wrong_shape = json.dumps([{"scans": {"today": UNREAD_NUMBER}, "note": UNREAD_TEXT}])
    long_text_keys = ("name",)
    fake: FakeBoditrax

    def truth(self) -> dict[str, Expect]:
        statistics = self.fake.facilities["f_1"].statistics(dt_util.utcnow())
        reception = statistics["machines"][0]
        return {
            "scans_today": Expect(float(statistics["scans"]["today"])),
            "members_scanned_last_30_days": Expect(
                float(statistics["members"]["scannedlast30days"])
            ),
            f"machine_{reception['id']}_scans_today": Expect(float(reception["scans"]["today"])),
        }

    def add_news(self) -> None:
        self.news += 1
        at = dt_util.utcnow().replace(microsecond=0) - timedelta(minutes=1)
        self.fake.facilities["f_1"].scans.append(FacilityScan(at, f"m_matrix_{self.news}", "bx_1"))

    def alive(self, data: dict[str, Any]) -> bool:
        """The entry names its credential, which still gets tokens; it keeps no refresh token."""
        client = self.fake.clients[BODITRAX_CLIENT.client_id]
        return (
            data.get("auth_implementation") == "bx"
            and "refresh_token" not in data.get("token", {})
            and self.fake.secret_valid(client, BODITRAX_CLIENT.client_secret)
        )


class BACtrackSubject(Subject):
    """BACtrack user 10261 (sam), with the personal sensors on, so notes are shown."""

    service = "bactrack"
    interval = timedelta(minutes=5)
    wrong_shape = json.dumps(
        {"meta": {"next": None, "note": UNREAD_TEXT}, "objects": UNREAD_NUMBER}
    )
    long_text_keys = ("notes",)
    fake: FakeBACtrack

    def truth(self) -> dict[str, Expect]:
        readings = self.fake.accounts[10261].readings
        latest = readings[0]
        day = dt_util.utcnow() - timedelta(hours=24)
        return {
            "bac": Expect(latest.bac),
            "last_reading": Expect(latest.timestamp.isoformat()),
            "readings_24h": Expect(float(sum(r.timestamp >= day for r in readings))),
            "notes": self.text(latest.notes),
        }

    def add_news(self) -> None:
        self.news += 1
        user = self.fake.accounts[10261]
        user.add_reading(
            BACReading(
                user.readings[0].id + 1,
                dt_util.utcnow().replace(microsecond=0) - timedelta(minutes=1),
                round(0.04 + self.news / 1000, 3),
                notes="after dinner" if self.news % 2 else "game night",
            )
        )

    def alive(self, data: dict[str, Any]) -> bool:
        return data.get("access_token") in self.fake.access_tokens


def _refresh_token_alive(fake: OAuth2Service, data: dict[str, Any]) -> bool:
    grant = fake.refresh_tokens.get(data.get("token", {}).get("refresh_token", ""))
    return grant is not None and not (grant.expires_at and grant.expires_at <= time.time())


# -- the rows -------------------------------------------------------------------------------


class Outcome(enum.Enum):
    """What a fault must lead to."""

    DOWN = "unavailable while it lasts, values back once it clears, tokens kept, no reauth"
    REFUSED = "the service refused the credentials: reauth, and they still work once it clears"
    TOLERATED = "the answer is odd but usable: values stay right"
    LIFETIME = "an unbelievable token lifetime: the documented one is used, nothing is lost"
    PAUSED = "429 with Retry-After: no request before that time, then back"
    KILLED = "Home Assistant killed: only what storage held survives; it loads and keeps going"
    REMOVED = "the entry is removed while a request is in flight: the late answer is let go"


Switch = Callable[[Subject, str], None]
"""Switches a row's fault on at the subject's fake, for a scope (DATA or TOKEN)."""


def fail(**kwargs: Any) -> Switch:
    """A row whose fault is one ``fake.fail(...)``, in the row's scope."""

    def switch(subject: Subject, scope: str) -> None:
        subject.fake.fail(scope=FAKE_SCOPE[scope], **kwargs)

    return switch


def _wrong_shape(subject: Subject, scope: str) -> None:
    body = subject.wrong_shape if scope == DATA else '{"token_type": "Bearer", "expires_in": 7200}'
    subject.fake.fail(200, body, scope=FAKE_SCOPE[scope])


def _refusal(subject: Subject, scope: str) -> None:
    error = "invalid_token" if scope == DATA else "invalid_client"
    subject.fake.fail(401, f'{{"error": "{error}"}}', scope=FAKE_SCOPE[scope])


def _long_texts(subject: Subject, scope: str) -> None:
    subject.long_texts = True
    subject.fake.fail(rewrite=long_texts(*subject.long_text_keys), scope=FAKE_SCOPE[scope])


def _gzip_bomb(subject: Subject, scope: str) -> None:
    """Made when the first row switches it on (and once: ``gzip_bomb`` keeps it)."""
    subject.fake.fail(200, gzip_bomb(BOMB), headers=GZIP, scope=FAKE_SCOPE[scope])


def _huge(subject: Subject, scope: str) -> None:
    """Streamed as it is sent, never held whole."""
    subject.fake.fail(200, chunks=huge_json(HUGE), scope=FAKE_SCOPE[scope])


def _deep(subject: Subject, scope: str) -> None:
    """Made when the row runs, not when the matrix is collected."""
    subject.fake.fail(200, deep_json(), scope=FAKE_SCOPE[scope])


def _timeout(subject: Subject, scope: str) -> None:
    subject.holding = True
    subject.fake.fail(delay=HOLD, scope=FAKE_SCOPE[scope])


def _lifetime(raw: str) -> Switch:
    def switch(subject: Subject, scope: str) -> None:
        assert isinstance(subject.fake, OAuth2Service)
        subject.fake.expires_in_json = raw

    return switch


@dataclass(frozen=True)
class Case:
    """A fault, what it must lead to (per scope), and where it applies."""

    name: str
    outcome: Outcome | dict[str, Outcome]
    switch: Switch | None = None
    scopes: tuple[str, ...] = (DATA, TOKEN)
    memory: bool = False
    """Also bound what the poll allocates (huge and inflating bodies)."""
    keeps_pace: bool = False
    """The service is asked again at every poll while it lasts (429 without Retry-After)."""
    settle_storage: bool = False
    """KILLED rows: storage is written before the kill (2 s after the refresh)."""
    xfail: dict[tuple[str, str], str] = field(default_factory=dict)
    """(service, scope) → why the row fails today (an integration bug being fixed)."""
    services: tuple[str, ...] | None = None
    """The services it applies to, where not every one of its scope."""
    says: str | dict[str, str] = ""
    """What the one log line while the fault lasts says (per scope, where they differ)."""
    reported: tuple[str, ...] = ()
    """Scopes where the answer is JSON of a shape we do not read: a repair says so."""

    def outcome_for(self, scope: str) -> Outcome:
        """What the fault must lead to in a scope."""
        return self.outcome if isinstance(self.outcome, Outcome) else self.outcome[scope]

    def said(self, scope: str) -> str:
        """What the log line says in a scope ("" where the services' words differ)."""
        return self.says if isinstance(self.says, str) else self.says.get(scope, "")


HTML_PAGE = "<!doctype html><html><body><h1>Down for maintenance</h1></body></html>"
GZIP = {"Content-Encoding": "gzip"}
UNREADABLE = {DATA: "could not read", TOKEN: "is unavailable"}
"""An answer that cannot be used: the data's is unreadable; a token endpoint's is an outage."""
TOO_LARGE = {DATA: "larger than", TOKEN: "is unavailable"}
REFUSED = "no longer accepts this account's sign-in"

CASES: tuple[Case, ...] = (
    Case("401", Outcome.REFUSED, _refusal, says=REFUSED),
    Case(
        "400",
        {DATA: Outcome.DOWN, TOKEN: Outcome.REFUSED},
        fail(status=400, body='{"error": "invalid_grant"}'),
        says={DATA: "could not read", TOKEN: REFUSED},
    ),
    Case(  # Boditrax names the scope its app lacks; the others cannot read the page
        "403",
        Outcome.DOWN,
        fail(status=403, body=HTML_PAGE, content_type="text/html"),
        says={TOKEN: "is unavailable"},
    ),
    Case(
        "429",
        Outcome.DOWN,
        fail(status=429, body='{"error": "slow down"}'),
        keeps_pace=True,
        says="rate limited",
    ),
    Case(
        "429+Retry-After",
        Outcome.PAUSED,
        fail(status=429, body="{}", headers={"Retry-After": str(RETRY_AFTER)}, times=1),
        says="rate limited",
    ),
    Case(
        "500", Outcome.DOWN, fail(status=500, body='{"error": "internal"}'), says="is unavailable"
    ),
    Case(
        "503",
        Outcome.DOWN,
        fail(status=503, body=HTML_PAGE, content_type="text/html"),
        says="is unavailable",
    ),
    Case("dropped", Outcome.DOWN, fail(drop=True), says="is unavailable"),
    Case("timeout", Outcome.DOWN, _timeout, says="did not answer in time"),
    Case(
        "malformed",
        Outcome.DOWN,
        fail(status=200, body='{"items": [{"type": "Runn'),
        says=UNREADABLE,
    ),
    Case("empty", Outcome.DOWN, fail(status=200, body=""), says=UNREADABLE),
    Case(
        "html",
        Outcome.DOWN,
        fail(status=200, body=HTML_PAGE, content_type="text/html"),
        says=UNREADABLE,
    ),
    Case("wrong-shape", Outcome.DOWN, _wrong_shape, says=UNREADABLE, reported=(DATA,)),
    Case("deep", Outcome.DOWN, _deep, says=UNREADABLE),
    Case("huge", Outcome.DOWN, _huge, memory=True, says=TOO_LARGE),
    Case("gzip-bomb", Outcome.DOWN, _gzip_bomb, memory=True, says=TOO_LARGE),
    Case(
        "redirect",
        Outcome.DOWN,
        fail(status=302, headers={"Location": "/elsewhere"}),
        says=UNREADABLE,
    ),
    Case("strings-for-numbers", Outcome.TOLERATED, fail(rewrite=numbers_as_strings)),
    Case("long-texts", Outcome.TOLERATED, _long_texts, scopes=(DATA,)),
    *(
        Case(f"expires_in={raw}", Outcome.LIFETIME, _lifetime(raw), scopes=(TOKEN,))
        for raw in ('"Infinity"', "1e999", "NaN", "-5", "1000000000000")
    ),
    Case("killed-after-poll", Outcome.KILLED, scopes=(DATA,)),
    Case("killed-after-rotating-refresh", Outcome.KILLED, scopes=(TOKEN,), services=REFRESHING),
    Case(
        "killed-2s-after-rotating-refresh",
        Outcome.KILLED,
        scopes=(TOKEN,),
        settle_storage=True,
        services=REFRESHING,
    ),
    Case("removed-mid-request", Outcome.REMOVED),
)


def _rows() -> Iterator[Any]:
    for case in CASES:
        for scope in case.scopes:
            for service in case.services or (OAUTH2 if scope == TOKEN else SERVICES):
                reason = case.xfail.get((service, scope))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(
                    service, scope, case, id=f"{service}-{scope}-{case.name}", marks=marks
                )


@contextlib.contextmanager
def memory_peak(watch: bool) -> Iterator[list[int]]:
    """The most Python allocated inside the block (bytes), when ``watch``; tracemalloc is slow."""
    peak = [0]
    if not watch:
        yield peak
        return
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1] - base
        if not already:
            tracemalloc.stop()


# -- accounts, signed in as users do ------------------------------------------------------


SUBJECTS: dict[str, type[Subject]] = {
    "sporttracks": SportTracksSubject,
    "boditrax": BoditraxSubject,
    "boditrax_facility": BoditraxFacilitySubject,
    "bactrack": BACtrackSubject,
}


def test_every_provider_has_a_subject() -> None:
    """A provider added to the registry is in the matrix only once it has a subject here."""
    assert set(SUBJECTS) == set(SERVICES)


async def _add(hass: HomeAssistant, service: str, sign_in: AddAccount) -> ConfigEntry:
    """Add the fake's account through the config flow, as a user does."""
    entry = await entry_added(sign_in)
    if service == "bactrack":  # the notes sensor: the one text BACtrack has
        hass.config_entries.async_update_entry(entry, options={CONF_PERSONAL_DATA: True})
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
    return entry


@pytest.fixture
async def subject(
    hass: HomeAssistant,
    service: str,
    fake: FakeService,
    sign_in: AddAccount,
    frozen_now: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    hass_storage: dict[str, Any],
    expect_log: ExpectedLog,
    monkeypatch: pytest.MonkeyPatch,
) -> Subject:
    """A loaded entry of ``service``, polled once, its storage written; request timeout small.

    Each row checks its own log lines (``Subject.assert_logged``, ``assert_no_traceback``) in
    the test itself, stricter than the suite-wide rule, so that a row that fails because of a
    bug fails as the row (xfail-able) instead of erroring at teardown.
    """
    expect_log(".")
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(api, "REQUEST_TIMEOUT", TIMEOUT)
    monkeypatch.setattr(application_credentials, "REQUEST_TIMEOUT", TIMEOUT, raising=False)
    entry = await _add(hass, service, sign_in)
    made = SUBJECTS[service](hass, fake, entry, frozen_now, caplog, hass_storage)
    await made.poll()  # the first poll after setup comes early: get it out of the way
    made.assert_loaded()
    made.assert_shown()
    await made.flush_storage()
    assert not made.lines(0), made.lines(0)
    return made


# -- the test ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "scope", "case"), list(_rows()))
async def test_fault(
    request: pytest.FixtureRequest, subject: Subject, service: str, scope: str, case: Case
) -> None:
    """One fault against one service: see the module docstring for what every row asserts."""
    result = Row(service, scope, case.name, known=case.xfail.get((service, scope), ""))
    try:
        await RUNNERS[case.outcome_for(scope)](subject, scope, case)
        subject.assert_no_traceback()
    except BaseException as err:
        first = str(err).splitlines()[0] if str(err) else ""
        result.failure = f"{type(err).__name__}: {first[:160]}"
        raise
    else:
        result.survived = True
    finally:
        result.tokens_lost = subject.tokens_lost()
        result.attach(request.node)


async def _down(subject: Subject, scope: str, case: Case) -> None:
    assert case.switch is not None
    mark = subject.mark()
    case.switch(subject, scope)
    if scope == TOKEN:
        subject.force_refresh()
    with memory_peak(case.memory) as peak:
        for _ in range(FAULT_POLLS):
            subject.add_news()
            asked = subject.requests(scope)
            await subject.poll()
            subject.assert_loaded()
            subject.assert_unavailable()
            if case.keeps_pace:
                assert subject.requests(scope) > asked, "not asked again at the next poll"
    if case.memory:
        assert peak[0] <= MEMORY_BOUND, f"a poll allocated {peak[0] / 2**20:.0f} MB"
    subject.assert_no_reauth()
    subject.assert_logged(mark, at_most=1, saying=case.said(scope))
    assert not subject.fake.count("/elsewhere"), "a redirect was followed"
    if scope in case.reported:
        await subject.assert_reported()
    await _recovers(subject)


async def _recovers(subject: Subject) -> None:
    """The fault clears: the next poll shows what the service holds; one line says so."""
    subject.clear()
    mark = subject.mark()
    subject.add_news()
    await subject.poll()
    subject.assert_loaded()
    subject.assert_shown()
    subject.assert_no_reauth()
    subject.assert_not_reported()
    subject.assert_logged(mark, at_most=0, recovered=1)
    await subject.assert_tokens_kept()


async def _refused(subject: Subject, scope: str, case: Case) -> None:
    assert case.switch is not None
    mark = subject.mark()
    case.switch(subject, scope)
    if scope == TOKEN:
        subject.force_refresh()
    for _ in range(FAULT_POLLS):
        subject.add_news()
        await subject.poll()
        subject.assert_loaded()
        subject.assert_unavailable()
    assert subject.reauth_flows(), "a refusal must ask the user to sign in again"
    subject.assert_logged(mark, at_most=1, saying=case.said(scope))
    # The refusal was the fault's, not the service's: once it clears, the stored credentials
    # still work (a restart, or reloading the entry, brings the account back without a sign-in).
    subject.clear()
    mark = subject.mark()
    subject.add_news()
    assert await subject.hass.config_entries.async_reload(subject.entry.entry_id)
    await subject.hass.async_block_till_done()
    subject.assert_loaded()
    subject.assert_shown()
    subject.assert_logged(mark, at_most=0)
    await subject.assert_tokens_kept()


async def _tolerated(subject: Subject, scope: str, case: Case) -> None:
    assert case.switch is not None
    mark = subject.mark()
    case.switch(subject, scope)
    if scope == TOKEN:
        subject.force_refresh()
    for _ in range(FAULT_POLLS):
        subject.add_news()
        await subject.poll()
        subject.assert_loaded()
        subject.assert_shown()
    subject.assert_no_reauth()
    subject.assert_logged(mark, at_most=0)
    subject.clear()
    subject.add_news()
    await subject.poll()
    subject.assert_shown()
    subject.assert_logged(mark, at_most=0)
    await subject.assert_tokens_kept()


async def _lifetime_row(subject: Subject, scope: str, case: Case) -> None:
    """The service keeps announcing the odd lifetime; its tokens really live the documented one."""
    assert case.switch is not None
    mark = subject.mark()
    case.switch(subject, scope)
    subject.force_refresh()
    lifetime = subject.lifetime.total_seconds()
    for poll in range(math.ceil(1.5 * subject.lifetime / subject.interval)):
        subject.add_news()
        await subject.poll()
        if poll == 0:  # the refresh: the new tokens are kept, for the documented lifetime
            assert subject.entry.data["token"]["expires_in"] == lifetime
        subject.assert_loaded()
        subject.assert_shown()
        subject.assert_no_reauth()
        left = subject.entry.data["token"]["expires_at"] - time.time()
        assert 0 < left <= lifetime, f"the token is taken to expire in {left:.0f} s"
    subject.assert_logged(mark, at_most=0)
    subject.clear()
    subject.add_news()
    await subject.poll()
    subject.assert_shown()
    await subject.assert_tokens_kept()


async def _paused(subject: Subject, scope: str, case: Case) -> None:
    assert case.switch is not None
    mark = subject.mark()
    case.switch(subject, scope)
    if scope == TOKEN:
        subject.force_refresh()
    subject.add_news()
    await subject.poll()
    subject.assert_loaded()
    subject.assert_unavailable()
    asked = len(subject.fake.requests)
    waited = timedelta(0)
    while waited + subject.interval < timedelta(seconds=RETRY_AFTER):
        await subject.poll()
        waited += subject.interval
        assert len(subject.fake.requests) == asked, (
            f"asked again {waited} after a 429 that said Retry-After: {RETRY_AFTER}"
        )
        subject.assert_never_wrong()
    subject.add_news()
    await subject.poll(timedelta(seconds=RETRY_AFTER) - waited + timedelta(seconds=2))
    assert len(subject.fake.requests) > asked, "not asked again once Retry-After had passed"
    subject.assert_loaded()
    subject.assert_shown()
    subject.assert_no_reauth()
    subject.assert_logged(mark, at_most=1, recovered=1, saying=case.said(scope))
    await subject.assert_tokens_kept()


async def _killed(subject: Subject, scope: str, case: Case) -> None:
    """Killed right after a poll (data) or a rotating refresh (token); started from storage."""
    mark = subject.mark()
    subject.add_news()
    if scope == TOKEN:
        assert isinstance(subject.fake, OAuth2Service)
        subject.fake.refresh_policy, subject.fake.rotation_grace = "rotate", 0.0
        rotated = len(subject.fake.rotated)
        await subject.poll(subject.lifetime)  # the access token runs out: this poll refreshes
        assert len(subject.fake.rotated) == rotated + 1, "the poll did not rotate the token"
    else:
        await subject.poll()
    subject.assert_shown()
    if case.settle_storage:
        await subject.flush_storage()
    await subject.restart_from(copy.deepcopy(subject.storage))  # what the disk held at the kill
    subject.assert_loaded()
    subject.assert_no_reauth()
    subject.assert_shown()
    subject.add_news()
    await subject.poll()
    subject.assert_shown()
    subject.assert_logged(mark, at_most=0)
    await subject.assert_tokens_kept()


async def _removed(subject: Subject, scope: str, case: Case) -> None:
    """``update_entity`` asks for a poll; the entry is removed while the service answers it."""
    hass = subject.hass
    assert await async_setup_component(hass, "homeassistant", {})
    mark = subject.mark()
    if scope == TOKEN:
        subject.force_refresh()
    subject.add_news()
    subject.fake.fail(delay=TIMEOUT / 2, times=1, scope=FAKE_SCOPE[scope])
    entity_id = subject.entity_id(next(iter(subject.truth())))
    update = hass.async_create_task(
        hass.services.async_call(
            "homeassistant", "update_entity", {"entity_id": entity_id}, blocking=True
        )
    )
    for _ in range(SPIN):
        if subject.fake.held:
            break
        await asyncio.sleep(0)
    else:
        pytest.fail("the update sent no request for the fake to hold")
    await hass.config_entries.async_remove(subject.entry.entry_id)
    subject.freezer.tick(TIMEOUT * 3 / 4)  # the service answers now, within the request timeout
    await update
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not subject.fake.held
    assert hass.config_entries.async_get_entry(subject.entry.entry_id) is None
    subject.assert_logged(mark, at_most=0)


RUNNERS: dict[Outcome, Callable[[Subject, str, Case], Any]] = {
    Outcome.DOWN: _down,
    Outcome.REFUSED: _refused,
    Outcome.TOLERATED: _tolerated,
    Outcome.LIFETIME: _lifetime_row,
    Outcome.PAUSED: _paused,
    Outcome.KILLED: _killed,
    Outcome.REMOVED: _removed,
}
