"""The soak: every service at once, records arriving at random while faults come and go.

An account of each service is added over REST, as ``rest`` does. Then, for at least
``seconds`` (``--soak-seconds``) and until the last fault is over, each fake adds records at
random times (seeded, ``--soak-seed``; the seed is printed), measured at instants that only move
forward, in varied offsets, some in the same second as the one before; polls are forced with
``homeassistant.update_entity`` every few seconds. Meanwhile, in this order:

1. each service answers a 5xx page, a 429 with ``Retry-After`` and a request held longer than
   the client waits (a timeout), in a random order;
2. Home Assistant is stopped cleanly (SIGTERM) while records arrive, and started again;
3. every token is revoked at the fakes, records arrive, and each reauth flow is completed over
   REST as a user would;
4. Home Assistant is stopped and started again.

Then the faults are off. Each service's last two records are measured in the same second, the
second added once the first has fired, and polls go on until a round of them fires nothing. The
events are read from the recorder's history of the event entities, as an automation following
the README sees them: a change to another event, not from or to ``unavailable`` (the state
restored at a start is the same event, not a new one). Every record added must be there exactly
once, with its instant, in the integration's order (``Cursor``: the measured instant, then the
id, the numbers in it by value). Per service the soak prints
``records=N events=N missed=0 duplicated=0`` and fails otherwise.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
import random
import time
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from homeassistant.helpers.update_coordinator import REQUEST_REFRESH_DEFAULT_COOLDOWN

from custom_components.health_trackers.clients.api import REQUEST_TIMEOUT
from custom_components.health_trackers.clients.base import Cursor
from custom_components.health_trackers.providers import PROVIDERS
from fakes.base import AddedRecord

from .home_assistant import Instance
from .rest import REVOKED_LOG, Journey, assert_nothing_left
from .services import SERVICES_BY_NAME
from .steps import StepFailed, Steps, wait_until

SOAK_SERVICES = tuple(key for key, provider in PROVIDERS.items() if provider.event is not None)
"""Every provider whose accounts keep records (each fires an event per record)."""
SOAK_SECONDS = 60.0
"""How long records arrive at least (the faults may take longer)."""
OFFSETS = (
    timedelta(0),
    timedelta(hours=1),
    timedelta(hours=-5),
    timedelta(hours=5, minutes=30),
    timedelta(hours=-2, minutes=-30),
)
"""The offsets records are measured in: SportTracks writes these (-02:30 as its -02:-30),
Boditrax any, BACtrack converts every time to UTC."""
MEAN_GAP = 2.5
"""Seconds between two records of a service, on average (exponentially distributed)."""
SAME_SECOND = 0.25
"""The chance that a record is measured in the same second as the one before."""
MAX_STEP = 120
"""Seconds a record's measured instant lies after the previous one's, at most."""
POLL_GAP = (1.0, 4.0)
"""Seconds between two forced polls of an account (Home Assistant runs one per cooldown)."""
COOLDOWN = REQUEST_REFRESH_DEFAULT_COOLDOWN + 1
"""After a forced poll, one asked for sooner waits until this is over (Home Assistant's debouncer)."""
HELD_SECONDS = REQUEST_TIMEOUT + 2
"""A request held back longer than the client waits for an answer: a timeout."""
FAULT_SECONDS = REQUEST_TIMEOUT + 4 * COOLDOWN
"""How long a fault may wait for the poll it breaks."""
RECOVER_BETWEEN = 0.5
"""The chance that a service recovers (a poll succeeds) before its next fault."""
DOWN_SECONDS = (3.0, 6.0)
"""How long Home Assistant stays stopped."""
QUIET_ROUNDS = 6
"""Rounds of polls after the faults before a soak that still fires records fails."""
HISTORY_SECONDS = 30
"""How long the recorder may take to write the last event (it commits every few seconds)."""
UNAVAILABLE, UNKNOWN = "unavailable", "unknown"
SERVER_ERROR_PAGE = "<html><body><h1>Service Unavailable</h1></body></html>"
EXPECTED_LOG = (
    r"^Error fetching .+ data: .+ is unavailable: GET \S+ answered 5\d\d$",
    r"^Error fetching .+ data: .+ asks us to slow down \(rate limited\): GET \S+ answered 429$",
    r"^Error fetching .+ data: .+ did not answer in time: GET \S+ timed out$",
    REVOKED_LOG,
)
"""What the faults make the coordinator log, once when an account starts failing."""


@dataclass(frozen=True)
class Tally:
    """The events one account fired, against the records added at its fake."""

    records: int
    events: int
    missed: tuple[str, ...]
    duplicated: int
    """Events beyond the first of each record."""
    strangers: tuple[str, ...]
    """Ids of events no record added stands for."""
    disorder: str | None
    """Where the first event of each record leaves the order of (measured instant, id)."""
    wrong_times: tuple[str, ...]

    def __str__(self) -> str:
        """The soak's summary line of the account."""
        return (
            f"records={self.records} events={self.events} "
            f"missed={len(self.missed)} duplicated={self.duplicated}"
        )

    def problems(self) -> list[str]:
        """What is wrong, in words; nothing when every record fired once, in order."""
        found = []
        if self.missed:
            found.append(f"never fired: {', '.join(self.missed)}")
        if self.duplicated:
            found.append(f"{self.duplicated} event(s) repeat a record")
        if self.strangers:
            found.append(f"events of records never added: {', '.join(self.strangers)}")
        if self.disorder:
            found.append(self.disorder)
        return found + list(self.wrong_times)


def tally(added: Sequence[AddedRecord], events: Sequence[Mapping[str, Any]]) -> Tally:
    """Compare the events (their data, in the order they fired) with the records added."""
    expected = [record.id for record in sorted(added, key=Cursor.of)]
    by_id = {record.id: record for record in added}
    ids = [str(event.get("id")) for event in events]
    counts = Counter(ids)
    first = [record for record in dict.fromkeys(ids) if record in by_id]
    wanted = [record for record in expected if record in counts]
    disorder = next(
        (
            f"out of order from the {index}. record on: {seen} fired where {want} belongs"
            for index, (seen, want) in enumerate(zip(first, wanted, strict=True), 1)
            if seen != want
        ),
        None,
    )
    wrong_times = []
    for event in events:
        record = by_id.get(str(event.get("id")))
        measured_at = event.get("measured_at")
        if record is not None and (
            not isinstance(measured_at, str)
            or datetime.fromisoformat(measured_at) != record.measured_at
        ):
            wrong_times.append(
                f"record {record.id} fired measured at {measured_at}, not {record.measured_at}"
            )
    return Tally(
        records=len(added),
        events=len(events),
        missed=tuple(record for record in expected if record not in counts),
        duplicated=sum(count - 1 for count in counts.values()),
        strangers=tuple(record for record in counts if record not in by_id),
        disorder=disorder,
        wrong_times=tuple(wrong_times),
    )


def fired(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events in an event entity's history, as an automation following the README sees them.

    A row is an event when it holds another event (time and record id) than the row before,
    neither of them ``unavailable``: not the state an outage ends with, nor the one a start
    restores.
    """
    events: list[dict[str, Any]] = []
    previous: Mapping[str, Any] | None = None
    for row in history:
        if (
            previous is not None
            and previous["state"] != UNAVAILABLE
            and row["state"] not in (UNAVAILABLE, UNKNOWN)
            and (row["state"], row["attributes"].get("id"))
            != (previous["state"], previous["attributes"].get("id"))
        ):
            events.append(dict(row["attributes"]))
        previous = row
    return events


@dataclass
class SoakAccount:
    """One service's account in the soak: its journey, its records and what it went through."""

    journey: Journey
    rng: random.Random
    measured: datetime
    """When the last record added was measured (the next one is measured then or later)."""
    account: str = ""
    """The account's id at the fake."""
    entity_id: str = ""
    """The account's event entity."""
    added: list[AddedRecord] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    """The faults its service served, in order."""
    polls: int = 0
    refused: int = 0
    """Forced polls Home Assistant did not take (an entry reloading, a restart)."""

    @property
    def name(self) -> str:
        """The service."""
        return self.journey.service.name

    async def add_record(self, *, same_second: bool | None = None) -> AddedRecord:
        """A record at the fake, measured in the same second as the last one or later.

        ``same_second``: whether it is measured in the last one's second (None: by chance).
        """
        if same_second is None:
            same_second = bool(self.added) and self.rng.random() < SAME_SECOND
        if not same_second:
            self.measured += timedelta(seconds=self.rng.randint(1, MAX_STEP))
        offset = timezone(self.rng.choice(OFFSETS))
        added = await self.journey.fake.add_record(self.account, self.measured.astimezone(offset))
        self.added.append(added)
        return added

    async def poll(self) -> None:
        """``homeassistant.update_entity`` on the event entity, as an automation would call it."""
        self.polls += 1
        await self.journey.instance.rest(
            "POST",
            "/api/services/homeassistant/update_entity",
            {"entity_id": self.entity_id},
        )

    async def recovered(self) -> None:
        """Wait until a fault made the event entity unavailable and a poll brought it back."""

        async def state_is(wanted: bool) -> bool | None:
            state, _ = await self.last_event()
            return True if (state == UNAVAILABLE) == wanted else None

        await wait_until(lambda: state_is(True), f"{self.name} is unavailable after the fault")
        await wait_until(lambda: state_is(False), f"{self.name} recovers")

    async def last_event(self) -> tuple[str, str | None]:
        """The event entity's state and the id of the record it last fired."""
        state = await self.journey.instance.rest("GET", f"/api/states/{self.entity_id}")
        return str(state["state"]), state["attributes"].get("id")

    async def history(self, since: datetime) -> list[dict[str, Any]]:
        """Every state the recorder kept of the event entity since ``since``, attributes too."""
        query = urlencode(
            {
                "filter_entity_id": self.entity_id,
                "end_time": datetime.now(UTC).isoformat(),
                "significant_changes_only": "0",
            }
        )
        rows = await self.journey.instance.rest(
            "GET", f"/api/history/period/{quote(since.isoformat())}?{query}"
        )
        return list(rows[0]) if rows else []


class Soak:
    """The soak on one Home Assistant; ``run`` does it all."""

    def __init__(self, instance: Instance, steps: Steps, seconds: float, seed: int) -> None:
        """Plan it; nothing happens until ``run``."""
        self.instance = instance
        self.steps = steps
        self.seconds = seconds
        self.seed = seed
        self.rng = random.Random(seed)
        self.started_at = datetime.now(UTC)
        measured = self.started_at.replace(microsecond=0)
        self.accounts = [
            SoakAccount(
                Journey(instance, SERVICES_BY_NAME[name]), random.Random(f"{seed} {name}"), measured
            )
            for name in SOAK_SERVICES
        ]
        self.running = asyncio.Event()
        """Home Assistant is up: forced polls go to it."""
        self.done = asyncio.Event()
        """No more records; the adders and pollers stop."""

    def say(self, text: str) -> None:
        """A line of the soak's report."""
        print(f"  {self.steps.label}: {text}", flush=True)

    async def run(self) -> None:
        """Add the accounts, soak, poll until quiet, compare, remove the accounts."""
        self.say(f"seed={self.seed} seconds={self.seconds:g}")
        for account in self.accounts:
            account.account = await account.journey.fake.signed_in()
            await account.journey.add(self.steps)
            account.entity_id = await account.journey.record_event()
        try:
            await self.soak()
            await self.poll_until_quiet()
        finally:
            for account in self.accounts:
                await account.journey.fake.clear_faults()
        await self.compare()
        with self.steps.step("remove the entries; nothing is left"):
            for account in self.accounts:
                await self.instance.rest(
                    "DELETE", f"/api/config/config_entries/entry/{account.journey.entry_id}"
                )
            await assert_nothing_left(self.instance)

    async def soak(self) -> None:
        """Records and polls at random while the faults come, for ``seconds`` at least."""
        started = time.monotonic()
        self.running.set()
        tasks = [
            asyncio.create_task(job(account))
            for account in self.accounts
            for job in (self.keep_adding, self.keep_polling)
        ]
        try:
            with self.steps.step("5xx, 429 with Retry-After and a timeout at each service"):
                await asyncio.gather(*(self.service_faults(account) for account in self.accounts))
            await self.stop_and_start("first")
            await self.reauthenticate()
            await self.stop_and_start("second")
            with self.steps.step("records go on arriving until the soak's time is up"):
                await self._pause(self.seconds - (time.monotonic() - started))
        finally:
            self.done.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        self.say(f"records arrived for {time.monotonic() - started:.0f}s")
        for account in self.accounts:
            self.say(
                f"{account.name}: faults served {', '.join(account.faults)}; "
                f"{account.polls} polls forced, {account.refused} refused"
            )
        if errors := [result for result in results if isinstance(result, BaseException)]:
            raise errors[0]

    async def _pause(self, seconds: float) -> None:
        """Sleep, but no longer than the soak lasts."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), max(seconds, 0))

    async def keep_adding(self, account: SoakAccount) -> None:
        """Records at random times, until the soak is over."""
        while not self.done.is_set():
            await self._pause(account.rng.expovariate(1 / MEAN_GAP))
            if not self.done.is_set():
                await account.add_record()

    async def keep_polling(self, account: SoakAccount) -> None:
        """Forced polls every few seconds while Home Assistant is up, until the soak is over."""
        while not self.done.is_set():
            await self._pause(account.rng.uniform(*POLL_GAP))
            if self.running.is_set() and not self.done.is_set():
                try:
                    await account.poll()
                except (StepFailed, aiohttp.ClientError):
                    account.refused += 1

    async def service_faults(self, account: SoakAccount) -> None:
        """A 5xx, a 429 with ``Retry-After`` and a timeout, in a random order, each served once."""
        rng = account.rng
        status, retry_after = rng.choice((500, 502, 503, 504)), rng.randint(1, 120)
        faults: list[tuple[str, dict[str, Any]]] = [
            (
                f"{status}",
                {
                    "status": status,
                    "body": SERVER_ERROR_PAGE,
                    "content_type": "text/html",
                    "times": 1,
                },
            ),
            (
                f"429 (Retry-After {retry_after} s)",
                {"status": 429, "headers": {"Retry-After": str(retry_after)}, "times": 1},
            ),
            (f"a timeout (held {HELD_SECONDS} s)", {"delay": HELD_SECONDS, "times": 1}),
        ]
        rng.shuffle(faults)
        fake = account.journey.fake

        async def served() -> bool | None:
            state = await fake.faults()
            used_up = all(item["times"] == 0 for item in state["faults"])
            return True if used_up and state["held"] == 0 else None

        for index, (label, fault) in enumerate(faults, 1):
            await asyncio.sleep(rng.uniform(0, 3))
            await fake.fail(**fault)
            await wait_until(served, f"{account.name} serves {label}", FAULT_SECONDS)
            account.faults.append(label)
            if index == len(faults) or rng.random() < RECOVER_BETWEEN:
                await account.recovered()
        await fake.clear_faults()

    async def stop_and_start(self, which: str) -> None:
        """Stop Home Assistant cleanly while records arrive (one at least each), start it again."""
        with self.steps.step(f"stop Home Assistant ({which} time) while records arrive"):
            self.running.clear()
            if (code := await self.instance.stop_home_assistant()) != 0:
                raise StepFailed(f"Home Assistant did not stop cleanly: exit code {code}")
            for account in self.accounts:
                await account.add_record()
            await asyncio.sleep(self.rng.uniform(*DOWN_SECONDS))
        with self.steps.step(f"start Home Assistant again ({which} time); the entries load"):
            await self.instance.start_again()
            for account in self.accounts:
                await account.journey.loaded_entry()
            self.running.set()

    async def reauthenticate(self) -> None:
        """Revoke every token; records arrive; each reauth flow is completed over REST."""
        with self.steps.step("revoke the tokens at the fakes; a reauth flow for each"):
            for account in self.accounts:
                await account.journey.fake.revoke()
                await account.add_record()
            flows = [await account.journey.reauth_flow() for account in self.accounts]
        with self.steps.step("sign in again through each reauth flow; the entries recover"):
            for account, flow in zip(self.accounts, flows, strict=True):
                await account.journey.sign_in_again(flow)
            for account in self.accounts:
                await account.journey.loaded_entry()

    async def closing_pair(self, account: SoakAccount) -> None:
        """A record, polls until it fired, then one more measured in the same second.

        The second reaches the service after the first was delivered: the newest record
        delivered and a new one share their second.
        """
        first = await account.add_record(same_second=False)
        for _ in range(QUIET_ROUNDS):
            await asyncio.sleep(COOLDOWN)
            await account.poll()
            if (await account.last_event())[1] == first.id:
                break
        await account.add_record(same_second=True)

    async def poll_until_quiet(self) -> None:
        """With the faults off, the closing pairs, then polls in rounds until one fires nothing."""
        with self.steps.step("faults off; each service's last two records in one second"):
            for account in self.accounts:
                await account.journey.fake.clear_faults()
            await asyncio.gather(*(self.closing_pair(account) for account in self.accounts))
        with self.steps.step("poll until a round of polls fires nothing"):
            for _ in range(QUIET_ROUNDS):
                await asyncio.sleep(COOLDOWN)
                before = [await account.last_event() for account in self.accounts]
                await asyncio.gather(*(account.poll() for account in self.accounts))
                after = [await account.last_event() for account in self.accounts]
                if after == before and all(state != UNAVAILABLE for state, _ in after):
                    return
            raise StepFailed(f"still firing or unavailable after {QUIET_ROUNDS} rounds: {after}")

    async def compare(self) -> None:
        """Read every account's events from the recorder; each record must be there once, in order."""
        with self.steps.step("read the events from the recorder's history and compare"):
            tallies = {
                account.name: tally(account.added, fired(await self.recorded(account)))
                for account in self.accounts
            }
            for name, result in tallies.items():
                self.say(f"{name} {result}")
            problems = [
                f"{name}: {problem}"
                for name, result in tallies.items()
                for problem in result.problems()
            ]
            if problems:
                raise StepFailed("; ".join(problems))

    async def recorded(self, account: SoakAccount) -> list[dict[str, Any]]:
        """The event entity's history since the soak began, once it holds the entity's state."""
        current = await account.last_event()

        async def probe() -> list[dict[str, Any]] | None:
            rows = await account.history(self.started_at)
            last = rows[-1] if rows else None
            if last is None or (last["state"], last["attributes"].get("id")) != current:
                raise StepFailed(f"the recorder's last row is {last}, the state {current}")
            return rows

        return await wait_until(probe, f"{account.name}'s history", HISTORY_SECONDS)


async def soak(seconds: float, seed: int, instance: Instance, steps: Steps) -> None:
    """The soak scenario (see the module)."""
    await Soak(instance, steps, seconds, seed).run()
