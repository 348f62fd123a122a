"""The demo keeps its word across a restart: nothing goes back, nothing fires again.

The README promises that the demo keeps its accounts, history and the fakes' records from one
run to the next. The instance's fakes keep their state file as the demo's do (``start_fakes``),
so this scenario does what a person trying the demo does: add a SportTracks and a Boditrax
account (the demo's second ones), add a record to each on the fakes' page (its button posts a
form to the control endpoint), see Home Assistant take it (a poll forced with
``homeassistant.update_entity``, as the demo forces one), then stop Home Assistant and the fakes
(by their PIDs) and start both again with the same config and state file. Once Home Assistant
runs and a forced poll reached each fake, every entity of both accounts must show what it showed
before (the event entities the instant of the event they fired then), the recorder must hold no
other value of them since (nothing went back, even for a moment; no event fired again), and the
fakes must list the same records.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from .blueprints import second_account
from .home_assistant import Instance
from .rest import Journey, assert_nothing_left
from .services import SERVICES_BY_NAME
from .soak import COOLDOWN, UNAVAILABLE
from .steps import StepFailed, Steps, wait_until

RESTART_SERVICES = ("sporttracks", "boditrax")
"""The accounts added: a service with a 7-day window and one without."""
WINDOW = timedelta(days=7)
"""SportTracks's week: its figures change when a workout leaves it, restart or not."""
HISTORY_SECONDS = 30
"""How long the recorder may take to write the last states (it commits every few seconds)."""
SEE_OTHER = 303
"""The control endpoint's answer to the page's form: back to the page, saying what it did."""


class Account:
    """One account of the scenario: its journey, its id at the fake, what it showed."""

    def __init__(self, journey: Journey) -> None:
        """Nothing added yet."""
        self.journey = journey
        self.account = ""
        self.states: dict[str, str] = {}
        """Translation key → state, noted before the restart."""
        self.event_id: str | None = None
        """The id of the record the event entity fired last, before the restart."""
        self.records: list[dict[str, Any]] = []
        """The fake's records of the account, newest first, before the restart."""

    @property
    def name(self) -> str:
        """The service."""
        return self.journey.service.name

    async def add_record_on_the_page(self) -> str:
        """Add a record as the fakes' page's button does (a form post); what the page says."""
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.journey.info['control']}/records",
                data={"account": self.account},
                allow_redirects=False,
            ) as answer,
        ):
            if answer.status != SEE_OTHER:
                raise StepFailed(
                    f"the page's button got {answer.status}: {(await answer.text())[:300]}"
                )
            return URL(answer.headers["Location"]).query.get("said", "")

    async def fake_records(self) -> list[dict[str, Any]]:
        """The account's records as the fake holds them, newest first."""
        async with (
            aiohttp.ClientSession(raise_for_status=True) as session,
            session.get(
                f"{self.journey.info['control']}/records", params={"account": self.account}
            ) as answer,
        ):
            return list(await answer.json())

    async def event_entity(self) -> str:
        """The account's event entity for its records."""
        return await self.journey.record_event()

    async def last_event(self) -> tuple[str, str | None]:
        """The event entity's state (when it last fired) and the id of the record it fired."""
        entity = await self.event_entity()
        state = await self.journey.instance.rest("GET", f"/api/states/{entity}")
        return str(state["state"]), state["attributes"].get("id")

    async def data_requests(self) -> int:
        """Requests the fake received that read data (not signing in, not refreshing a token)."""
        return sum(
            1
            for request in await self.journey.fake.requests()
            if request["path"] not in self.journey.service.sign_in_paths
        )

    def window_moved_past_a_record(self, since: datetime) -> bool:
        """Whether a record left the 7-day window since ``since`` (its figures may then change)."""
        now = datetime.now(UTC)
        for record in self.records:
            measured = record.get("start") or record.get("date")
            if measured and since - WINDOW <= datetime.fromisoformat(measured) <= now - WINDOW:
                return True
        return False


async def restart_with_the_fakes(instance: Instance, steps: Steps) -> None:
    """The scenario (see the module), with the demo's second accounts.

    The soak follows the default accounts' event entities, whose history must hold its events
    only: the records this scenario adds go to the second accounts, as the blueprints' do. It
    runs after the blueprints' scenarios, whose reminder needs a member without a recent scan.
    """
    accounts = [Account(Journey(instance, SERVICES_BY_NAME[name])) for name in RESTART_SERVICES]
    async with contextlib.AsyncExitStack() as signed_in:
        for account in accounts:
            account.account = await signed_in.enter_async_context(
                second_account(account.journey, steps)
            )
        for account in accounts:
            await account.journey.add(steps)
        await _before(accounts, steps)
        noted_at = datetime.now(UTC)
        await _note(accounts, steps)
        await _restart(instance, steps)
        await _after(accounts, steps, noted_at)
        with steps.step("remove the accounts; nothing is left"):
            for account in accounts:
                await instance.rest(
                    "DELETE", f"/api/config/config_entries/entry/{account.journey.entry_id}"
                )
            await assert_nothing_left(instance)


async def _before(accounts: list[Account], steps: Steps) -> None:
    for account in accounts:
        with steps.step(f"{account.name}: the fakes' page adds a record; poll; it shows and fires"):
            held = {str(record["id"]) for record in await account.fake_records()}
            said = await account.add_record_on_the_page()
            print(f"  {steps.label}: the fakes' page says {said!r}", flush=True)
            # Not the first listed: a record of the same second lists before it.
            added = [
                str(record["id"])
                for record in await account.fake_records()
                if str(record["id"]) not in held
            ]
            if len(added) != 1:
                raise StepFailed(f"the button added {added}, not one record")
            newest = added[0]
            account.journey.expected = await account.journey.service.read_values(
                account.journey.info
            )
            await account.journey.poll()
            await account.journey.values_match()

            async def fired(account: Account = account, newest: str = newest) -> bool | None:
                state, fired_id = await account.last_event()
                if fired_id != newest:
                    raise StepFailed(
                        f"the event entity is {state}, last fired {fired_id!r}, not {newest!r}"
                    )
                return True

            await wait_until(fired, f"{account.name}'s event entity fires the new record")


async def _note(accounts: list[Account], steps: Steps) -> None:
    for account in accounts:
        with steps.step(f"{account.name}: note every entity's state and the fake's records"):
            account.states = await account.journey.states()
            _, account.event_id = await account.last_event()
            account.records = await account.fake_records()
            print(f"  {steps.label}: {account.name} shows {account.states}", flush=True)


async def _restart(instance: Instance, steps: Steps) -> None:
    with steps.step("stop Home Assistant, then the fakes, by their PIDs"):
        await instance.stop_home_assistant()
        await instance.stop_fakes()
    with steps.step("start the fakes again with the same state file (the same ports)"):
        await instance.start_fakes()
    with steps.step("start Home Assistant again with the same config; it runs"):
        await instance.start_again()


async def _after(accounts: list[Account], steps: Steps, noted_at: datetime) -> None:
    """After the restart: the fakes' records, a poll, then every entity's state and history.

    Only a figure over SportTracks's 7 days may differ, and only if a workout left the window
    since the states were noted (time moves it, not the restart).
    """
    for account in accounts:
        with steps.step(f"{account.name}: the fake serves the same records as before"):
            if (records := await account.fake_records()) != account.records:
                raise StepFailed(
                    f"the fake lists {len(records)} records, newest {records[:1]}; before the "
                    f"restart {len(account.records)}, newest {account.records[:1]}"
                )
        with steps.step(f"{account.name}: the entry is loaded"):
            await account.journey.loaded_entry()
    with steps.step("a poll forced after the start reaches each fake"):
        # One forced poll sooner than the debouncer's cooldown would wait for it.
        await asyncio.sleep(COOLDOWN)
        for account in accounts:
            polled = await account.data_requests()
            await account.journey.poll()

            async def reached(account: Account = account, polled: int = polled) -> bool | None:
                if (now := await account.data_requests()) <= polled:
                    raise StepFailed(f"{account.name}: {now} data requests, {polled} before")
                return True

            await wait_until(reached, f"the poll reaches {account.name}'s fake")
    for account in accounts:
        exempt: set[str] = set()
        if account.window_moved_past_a_record(noted_at):
            exempt = set(account.journey.service.window_keys)
            print(f"  {steps.label}: a record left {account.name}'s window: {sorted(exempt)}")
        with steps.step(f"{account.name}: every entity shows what it showed before"):
            await _same_states(account, exempt)
        with steps.step(f"{account.name}: the recorder holds no other value since then"):
            held = await _no_other_value(account, noted_at, exempt)
            print(f"  {steps.label}: {account.name}: the recorder holds {held}", flush=True)


async def _same_states(account: Account, exempt: set[str]) -> None:
    """Every entity's state now is the one noted before; the event entity fired nothing new."""
    states = await account.journey.states()
    changed = {
        key: f"{account.states.get(key)!r} → {state!r}"
        for key, state in states.items()
        if key not in exempt and state != account.states.get(key)
    }
    if missing := set(account.states) - set(states):
        changed |= dict.fromkeys(missing, "gone")
    if changed:
        raise StepFailed(f"changed across the restart: {changed}")
    if (fired := (await account.last_event())[1]) != account.event_id:
        raise StepFailed(
            f"the event entity fired {fired} after the restart, {account.event_id} before"
        )


async def _no_other_value(account: Account, since: datetime, exempt: set[str]) -> str:
    """The recorder's states of the account's entities since ``since``: only the ones noted.

    Unavailable is allowed (Home Assistant starting, before the integration has set the
    entities up); any other value (unknown, an older one restored, an event fired again) is not.
    Returns how many states it holds, for the report.
    """
    entities = await account.journey.entities()
    key_of = {entity: key for key, entity in entities.items()}
    shown = await account.journey.states()

    async def probe() -> list[list[dict[str, Any]]] | None:
        query = urlencode(
            {
                "filter_entity_id": ",".join(sorted(key_of)),
                "end_time": datetime.now(UTC).isoformat(),
                "significant_changes_only": "0",
                "no_attributes": "",
            }
        )
        rows: list[list[dict[str, Any]]] = await account.journey.instance.rest(
            "GET", f"/api/history/period/{quote(since.isoformat())}?{query}"
        )
        last = {series[0]["entity_id"]: series[-1]["state"] for series in rows if series}
        behind = {
            entity: (last.get(entity), shown[key])
            for entity, key in key_of.items()
            if shown[key] != "(no state)" and last.get(entity) != shown[key]
        }
        if behind:
            raise StepFailed(f"the recorder's last states are not the entities' yet: {behind}")
        return rows

    rows = await wait_until(probe, f"{account.name}'s history", HISTORY_SECONDS)
    other = [
        f"{series[0]['entity_id']} was {row['state']!r} at {row.get('last_updated', '?')}"
        for series in rows
        for row in series
        if row["state"] != UNAVAILABLE
        and key_of[series[0]["entity_id"]] not in exempt
        and row["state"] != account.states[key_of[series[0]["entity_id"]]]
    ]
    if other:
        raise StepFailed(f"other values since they were noted: {'; '.join(other)}")
    unavailable = sum(row["state"] == UNAVAILABLE for series in rows for row in series)
    return (
        f"{sum(map(len, rows))} states of {len(rows)} entities since they were noted "
        f"(the first of each as noted), {unavailable} unavailable, no other value"
    )
