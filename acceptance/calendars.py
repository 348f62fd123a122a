"""The calendars in Chromium: a month of workouts, scans and drinking sessions in the panel.

A SportTracks account, a Boditrax member and a BACtrack account are added; each must have a
record in the month shown (the fakes' newest records lie hours before they started; on the first
days of a month one is added now if need be). The calendars' events of the month, as the panel
asks for them (``/api/calendars/<entity>``), must hold the newest workout and scan as the fake
holds them ("Running · 5.8 km · 35 min", "84.7 kg · 21.1 %") and a drinking session
("0.080 % · readings: 4"); the calendar panel must list the three calendars and draw those events
in its month view. Its screenshot is the README's picture of the calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import re
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from playwright.async_api import Page, expect

from .browser import Camera, chromium_page, goto, log_in
from .home_assistant import Instance
from .rest import Journey, remove_all
from .services import SERVICES_BY_NAME, ServiceUnderTest
from .steps import StepFailed, Steps, wait_until

FakeRecord = Mapping[str, Any]
SESSION = re.compile(r"^\d\.\d{3} % · readings: \d+$")
"""A drinking session's summary: its peak and how many readings."""
PANEL_CALENDAR = "ha-full-calendar"
"""The calendar panel's month view (FullCalendar)."""


def _workout(record: FakeRecord) -> str:
    """Type, distance and moving time, as the Workouts calendar sums a workout up."""
    parts = [str(record["type"])]
    if record.get("distance") is not None:
        parts.append(f"{record['distance'] / 1000:.1f} km")
    if record.get("duration") is not None:
        parts.append(f"{record['duration'] / 60:.0f} min")
    return " · ".join(parts)


def _scan(record: FakeRecord) -> str:
    """Weight and body fat (fat mass of the weight), as the Scans calendar sums a scan up."""
    measurements = record["measurements"]
    weight, fat = measurements["BodyWeight"], measurements["FatMass"]
    return f"{weight:.1f} kg · {fat / weight * 100:.1f} %"


@dataclass(frozen=True)
class CalendarOf:
    """A service's calendar: its key, the fake's time field, the newest record's summary."""

    service: ServiceUnderTest
    key: str
    """The calendar's translation key: its entity id ends with it."""
    measured_at: str
    """The field of the fake's record that says when it was measured."""
    expected: Callable[[FakeRecord], str] | None
    """The newest record's summary; None: any event's summary must match ``SESSION``."""
    counts: Callable[[FakeRecord], bool] = lambda record: True
    """Whether a record of the month makes an event (a reading of 0.000 % is no session)."""


CALENDARS = (
    CalendarOf(SERVICES_BY_NAME["sporttracks"], "workouts", "start", _workout),
    CalendarOf(SERVICES_BY_NAME["boditrax"], "scans", "date", _scan),
    CalendarOf(
        SERVICES_BY_NAME["bactrack"],
        "drinking_sessions",
        "timestamp",
        None,
        counts=lambda record: bool(record["bac"]),
    ),
)


@dataclass
class Added:
    """A calendar of this run: its entity, its name in the panel, the summary it must show."""

    calendar: CalendarOf
    entity_id: str = ""
    name: str = ""
    summary: str = ""


async def fake_records(journey: Journey, account: str) -> list[FakeRecord]:
    """Every record the fake holds for ``account``."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{journey.info['control']}/records", params={"account": account}) as answer,
    ):
        answer.raise_for_status()
        return list(await answer.json())


def _when(record: FakeRecord, field: str) -> datetime:
    """When a fake's record was measured (BACtrack writes UTC without a zone)."""
    when = datetime.fromisoformat(record[field])
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def month_shown(instance: Instance) -> tuple[datetime, datetime]:
    """The month the panel opens on: this month, in Home Assistant's time zone."""
    zone = ZoneInfo((await instance.rest("GET", "/api/config"))["time_zone"])
    start = datetime.now(zone).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


async def events(instance: Instance, entity_id: str, start: datetime, end: datetime) -> list[Any]:
    """The calendar's events of the range, as the panel asks for them."""
    query = urlencode({"start": start.isoformat(), "end": end.isoformat()})
    return list(await instance.rest("GET", f"/api/calendars/{entity_id}?{query}"))


async def browser_calendar(chromium: str, instance: Instance, steps: Steps) -> None:
    """Workouts, scans and drinking sessions of this month, over the API and in the panel."""
    start, end = await month_shown(instance)
    added = []
    for calendar in CALENDARS:
        journey = Journey(instance, calendar.service)
        account = await journey.fake.signed_in()
        with steps.step(f"the fake's {calendar.service.service} account has a record this month"):
            records = await fake_records(journey, account)
            if not any(
                start <= _when(record, calendar.measured_at) < end and calendar.counts(record)
                for record in records
            ):
                found = await journey.fake.add_record(account)
                print(f"  {steps.label}: added {found.description}", flush=True)
                records = await fake_records(journey, account)
            newest = max(records, key=lambda record: _when(record, calendar.measured_at))
        entry_id = await journey.add(steps)
        entity_id = (await journey.entities()).get(calendar.key)
        if entity_id is None:
            raise StepFailed(f"the entry {entry_id} has no {calendar.key} calendar")
        summary = calendar.expected(newest) if calendar.expected else ""
        added.append(Added(calendar, entity_id, summary=summary))
    with steps.step(f"/api/calendars lists the three, with this month's events ({start:%B %Y})"):
        names = {
            found["entity_id"]: found["name"]
            for found in await instance.rest("GET", "/api/calendars")
        }
        for shown in added:
            if shown.entity_id not in names:
                raise StepFailed(f"/api/calendars lacks {shown.entity_id}: {names}")
            shown.name = names[shown.entity_id]
            await month_holds(instance, shown, start, end)
    async with chromium_page(chromium, steps) as (_, page, camera):
        await log_in(page, instance, steps, camera)
        await show_calendar(page, instance, steps, camera, added)
    with steps.step("remove the accounts"):
        await remove_all(instance)


async def month_holds(instance: Instance, calendar: Added, start: datetime, end: datetime) -> None:
    """The calendar's events of the month hold the summary expected (a session's, by its form)."""

    async def held() -> str | None:
        summaries = [
            str(event["summary"])
            for event in await events(instance, calendar.entity_id, start, end)
        ]
        if calendar.summary:
            if calendar.summary not in summaries:
                raise StepFailed(f"{calendar.entity_id}: no {calendar.summary!r} in {summaries}")
            return calendar.summary
        sessions = [summary for summary in summaries if SESSION.match(summary)]
        if not sessions:
            raise StepFailed(f"{calendar.entity_id}: no session's summary in {summaries}")
        calendar.summary = sessions[-1]
        return calendar.summary

    found = await wait_until(held, f"the events of {calendar.entity_id}")
    print(f"  {instance.release.version}: {calendar.entity_id}: {found!r}", flush=True)


async def show_calendar(
    page: Page, instance: Instance, steps: Steps, camera: Camera, added: list[Added]
) -> None:
    """The calendar panel lists the three calendars and draws their events in the month."""
    with steps.step("open the calendar panel: the three calendars are listed"):
        await goto(page, f"{instance.base_url}/calendar")
        panel = page.locator("ha-panel-calendar")
        for calendar in added:
            await expect(panel).to_contain_text(calendar.name)
    with steps.step("the month view draws an event of each calendar"):
        month = page.locator(PANEL_CALENDAR)
        for calendar in added:
            await expect(month.get_by_text(calendar.summary, exact=True).first).to_be_visible()
        await camera.shoot(page, "calendar")
