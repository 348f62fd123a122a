"""The blueprints as a user gets them: imported by their address, an automation made from each, run.

The import is what the README's My Home Assistant button does: the dialog *Import a blueprint*
sends the websocket command ``blueprint/import`` with the file's raw address (**Preview**), then
``blueprint/save`` with what it fetched (**Import blueprint**). GitHub cannot be reached here, so
the working tree's ``blueprints/`` is served on 127.0.0.1 as raw.githubusercontent.com serves the
repository's. The automation is made through the automation editor's REST API with the user's
inputs, its Notify action ``persistent_notification.create``: what it sends is read back from
Home Assistant's notifications.

As in the demo, the shipped blueprints are also in the blueprint list from the start (the instance
copies the repository's ``blueprints/`` into its config as ``scripts/demo`` does): listed over the
websocket under ``health_trackers/`` with their names, and in Chromium under Settings → Automations
& scenes → Blueprints. An import by address saves under the address's host
(``127.0.0.1/<file>``), so it does not collide with them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from datetime import UTC, datetime
from pathlib import Path
import re
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from homeassistant.util.yaml import load_yaml_dict
from playwright.async_api import expect

from fakes.bactrack import DEMO_USER
from fakes.boditrax import DEMO_MEMBER
from fakes.sporttracks import DEMO_ACCOUNT
from scripts.demo import DOMAIN, HOST, REPO_ROOT

from .browser import chromium_page, click_to, log_in
from .home_assistant import Instance
from .rest import Journey
from .services import SERVICES_BY_NAME, Expected
from .steps import StepFailed, Steps, wait_until

NOTIFY_ACTION = "persistent_notification.create"
"""The blueprints' default Notify action: Home Assistant's own notifications."""
THRESHOLD = 0.01
"""The BAC threshold: below any reading the fake adds (0.02 % and up)."""
DAYS = 14
"""The reminder's days without a scan: fewer than the month the fake's member has not scanned."""
AUTOMATION_CONFIG = "/api/config/automation/config"
SECOND_ACCOUNTS = {
    "sporttracks": DEMO_ACCOUNT[0],
    "bactrack": str(DEMO_USER[0]),
    "boditrax": DEMO_MEMBER[0],
}
"""The demo's second account of each service, which the blueprints' scenarios use."""
SHIPPED = REPO_ROOT / "blueprints" / "automation" / DOMAIN
"""The automation blueprints the repository ships, which the demo puts in the blueprint list."""


def shipped_blueprints(folder: Path = SHIPPED) -> dict[str, str]:
    """Each shipped blueprint's path in the blueprint list (``health_trackers/<file>``) → name."""
    found = {
        f"{DOMAIN}/{path.name}": str(load_yaml_dict(path)["blueprint"]["name"])
        for path in sorted(folder.glob("*.yaml"))
    }
    if not found:
        raise StepFailed(f"no blueprint in {folder}")
    return found


@contextlib.asynccontextmanager
async def serving_blueprints() -> AsyncIterator[str]:
    """The working tree's automation blueprints over HTTP on 127.0.0.1: their folder's address."""
    app = web.Application()
    app.router.add_static("/", REPO_ROOT / "blueprints")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, 0).start()
        yield f"http://{HOST}:{runner.addresses[0][1]}/automation/{DOMAIN}"
    finally:
        await runner.cleanup()


async def import_blueprint(instance: Instance, url: str) -> str:
    """Import the blueprint at ``url`` as the dialog does; its path among the automation blueprints."""
    async with instance.websocket() as ws:
        imported = await ws.call("blueprint/import", url=url)
        if imported.get("validation_errors"):
            raise StepFailed(f"Home Assistant finds the blueprint invalid: {imported}")
        await ws.call(
            "blueprint/save",
            domain="automation",
            path=imported["suggested_filename"],
            yaml=imported["raw_data"],
            source_url=url,
        )
        path = f"{imported['suggested_filename']}.yaml"
        saved = await ws.call("blueprint/list", domain="automation")
    if path not in saved or "error" in saved[path]:
        raise StepFailed(f"no blueprint {path} among {saved}")
    return path


@contextlib.asynccontextmanager
async def automation_from(
    instance: Instance, steps: Steps, name: str, inputs: dict[str, Any]
) -> AsyncIterator[str]:
    """Import blueprint ``name``, make an automation of it with ``inputs``: its entity id.

    Leaving deletes the automation, then the blueprint (one in use cannot be deleted).
    """
    async with serving_blueprints() as folder:
        with steps.step(f"import {name} by its address, as the My Home Assistant button does"):
            path = await import_blueprint(instance, f"{folder}/{name}")
    try:
        automation_id = secrets.token_hex(8)
        with steps.step("create an automation from it with the user's inputs; it is on"):
            await instance.rest(
                "POST",
                f"{AUTOMATION_CONFIG}/{automation_id}",
                {
                    "alias": name,
                    "description": "",
                    "use_blueprint": {"path": path, "input": inputs},
                },
            )

            async def switched_on() -> str | None:
                for state in await instance.rest("GET", "/api/states"):
                    if state["attributes"].get("id") == automation_id:
                        if state["state"] != "on":
                            raise StepFailed(f"the automation is {state['state']}: {state}")
                        return str(state["entity_id"])
                raise StepFailed("no automation yet")

            entity_id = await wait_until(switched_on, "the automation is on")
        try:
            yield entity_id
        finally:
            await instance.rest("DELETE", f"{AUTOMATION_CONFIG}/{automation_id}")
    finally:
        async with instance.websocket() as ws:
            await ws.call("blueprint/delete", domain="automation", path=path)


class Notifications:
    """Home Assistant's persistent notifications sent since ``start``."""

    def __init__(self, instance: Instance) -> None:
        """Nothing read yet."""
        self.instance = instance
        self.before: set[str] = set()

    async def _new(self) -> list[dict[str, Any]]:
        async with self.instance.websocket() as ws:
            every = await ws.call("persistent_notification/get")
        return [item for item in every if item["notification_id"] not in self.before]

    async def start(self) -> None:
        """Count only what is sent from now on."""
        async with self.instance.websocket() as ws:
            every = await ws.call("persistent_notification/get")
        self.before = {item["notification_id"] for item in every}

    async def sent(self) -> list[dict[str, str]]:
        """Title and message of each notification since ``start``, which are then dismissed."""
        new = await self._new()
        for item in new:
            await self.instance.rest(
                "POST",
                "/api/services/persistent_notification/dismiss",
                {"notification_id": item["notification_id"]},
            )
        return [{"title": item["title"], "message": item["message"]} for item in new]

    async def expect(self, expected: dict[str, str]) -> None:
        """Wait for a notification; it must be ``expected``, and the only one."""

        async def arrived() -> bool | None:
            return True if await self._new() else None

        await wait_until(arrived, "a notification")
        if (sent := await self.sent()) != [expected]:
            raise StepFailed(f"sent {sent}, expected {expected}")


def _number(value: Expected) -> float:
    if isinstance(value, datetime):
        raise StepFailed(f"expected a number, the fake serves {value}")
    return float(value)


def _instant(value: Expected) -> datetime:
    if not isinstance(value, datetime):
        raise StepFailed(f"expected an instant, the fake serves {value!r}")
    return value


async def device_name(journey: Journey) -> str:
    """The account's device name as the user sees it: the notifications' title."""
    device_id = await journey.device_id()
    async with journey.instance.websocket() as ws:
        devices = await ws.call("config/device_registry/list")
    device = next(device for device in devices if device["id"] == device_id)
    return str(device["name_by_user"] or device["name"])


async def local_zone(instance: Instance) -> ZoneInfo:
    """Home Assistant's time zone: the notifications' times are in it."""
    return ZoneInfo((await instance.rest("GET", "/api/config"))["time_zone"])


@contextlib.asynccontextmanager
async def second_account(journey: Journey, steps: Steps) -> AsyncIterator[str]:
    """The fake's sign-in page signs in the demo's second account meanwhile: its id.

    The soak follows the default accounts' event entities, whose history must hold its events only.
    """
    account = SECOND_ACCOUNTS[journey.service.service]
    signed_in = await journey.fake.signed_in()
    with steps.step(f"the fake's sign-in page signs in {account}, the demo's second account"):
        await journey.fake.sign_in_as(account)
    try:
        yield account
    finally:
        await journey.fake.sign_in_as(signed_in)


async def blueprint_new_workout(instance: Instance, steps: Steps) -> None:
    """new_workout_notify.yaml: a new workout at SportTracks, one notification saying what it was."""
    journey = Journey(instance, SERVICES_BY_NAME["sporttracks"])
    async with second_account(journey, steps) as account:
        await journey.add(steps)
        entities = await journey.entities()
        notifications = Notifications(instance)
        inputs = {"event_entity": entities["new_workout"], "notify_action": NOTIFY_ACTION}
        async with automation_from(instance, steps, "new_workout_notify.yaml", inputs):
            await notifications.start()
            with steps.step("a new workout at the fake; poll"):
                await journey.fake.add_record(account)
                workout = await journey.service.read_values(journey.info)
                await journey.poll()
            with steps.step("one notification: its type, distance and moving time"):
                minutes = round(_number(workout["latest_workout_duration"]) * 60)  # h → min
                distance = _number(workout["latest_workout_distance"])
                details = (
                    f"{workout['latest_workout_type']}, "
                    f"{distance:.2f} km in {minutes // 60}:{minutes % 60:02d}"
                )
                await notifications.expect(
                    {"title": await device_name(journey), "message": f"New workout: {details}."}
                )
        await journey.remove(steps)


async def blueprint_bac_above_threshold(instance: Instance, steps: Steps) -> None:
    """bac_above_threshold.yaml: a reading above the threshold, with the estimate of the sensor."""
    journey = Journey(instance, SERVICES_BY_NAME["bactrack"])
    async with second_account(journey, steps) as account:
        await journey.add(steps)
        entities = await journey.entities()
        notifications = Notifications(instance)
        inputs = {
            "event_entity": entities["new_reading"],
            "threshold": THRESHOLD,
            "notify_action": NOTIFY_ACTION,
        }
        async with automation_from(instance, steps, "bac_above_threshold.yaml", inputs):
            await notifications.start()
            with steps.step("a new reading at the fake; poll; the sensors show it"):
                await journey.fake.add_record(account)
                journey.expected = await journey.service.read_values(journey.info)
                await journey.poll()
                await journey.values_match()
            with steps.step("one notification: the BAC and the sober time the sensor estimates"):
                zone = await local_zone(instance)
                taken = _instant(journey.expected["last_reading"]).astimezone(zone)
                sober = await instance.rest("GET", f"/api/states/{entities['sober_at']}")
                sober_at = datetime.fromisoformat(sober["state"]).astimezone(zone)
                message = (
                    f"BAC {_number(journey.expected['bac']):.3f} % at {taken:%H:%M} "
                    f"(above {THRESHOLD:.3f} %). Estimated sober at {sober_at:%H:%M}."
                )
                await notifications.expect(
                    {"title": await device_name(journey), "message": message}
                )
        await journey.remove(steps)


async def blueprint_no_scan_reminder(instance: Instance, steps: Steps) -> None:
    """no_scan_reminder.yaml: a member without a scan for a month is reminded; after a scan, not.

    The automation runs now, its condition kept (``automation.trigger``), not at its time of day.
    """
    journey = Journey(instance, SERVICES_BY_NAME["boditrax"])
    async with second_account(journey, steps) as member:
        with steps.step("the fake's member has not scanned for a month"):
            await journey.fake.history_ending(member, 30)
        try:
            await _no_scan_reminder(journey, member, steps)
        finally:
            await journey.fake.history_ending(member, 0)


async def _no_scan_reminder(journey: Journey, member: str, steps: Steps) -> None:
    instance = journey.instance
    await journey.add(steps)
    entities = await journey.entities()
    notifications = Notifications(instance)
    inputs = {
        "scan_time_sensor": entities["scan_time"],
        "days": DAYS,
        "at": "03:00:00",
        "notify_action": NOTIFY_ACTION,
    }
    async with automation_from(instance, steps, "no_scan_reminder.yaml", inputs) as automation:
        run = {"entity_id": automation, "skip_condition": False}
        with steps.step("run it: a reminder naming the day of the last scan"):
            await notifications.start()
            await instance.rest("POST", "/api/services/automation/trigger", run)
            last = _instant(journey.expected["scan_time"])
            local = last.astimezone(await local_zone(instance))
            days = (datetime.now(UTC) - last).days
            message = (
                f"No Boditrax scan for {days} days: the last one was on "
                f"{local:%A} {local.day} {local:%B}."
            )
            await notifications.expect({"title": await device_name(journey), "message": message})
        with steps.step("a scan at the fake; poll; the scan time sensor shows it"):
            await journey.fake.add_record(member)
            journey.expected = await journey.service.read_values(journey.info)
            await journey.poll()
            await journey.values_match()
        with steps.step("run it again: no reminder"):
            await notifications.start()
            await instance.rest("POST", "/api/services/automation/trigger", run)
            if sent := await notifications.sent():
                raise StepFailed(f"a reminder after a scan: {sent}")
    await journey.remove(steps)


async def blueprint_list(instance: Instance, steps: Steps) -> None:
    """The shipped blueprints are in the blueprint list from the start, as in the demo."""
    shipped = shipped_blueprints()
    with steps.step(f"blueprint/list: the {len(shipped)} shipped blueprints under {DOMAIN}/"):
        async with instance.websocket() as ws:
            listed = await ws.call("blueprint/list", domain="automation")
        ours = {path: item for path, item in listed.items() if path.startswith(f"{DOMAIN}/")}
        if set(ours) != set(shipped):
            raise StepFailed(f"listed under {DOMAIN}/: {sorted(ours)}, shipped: {sorted(shipped)}")
        wrong = [
            f"{path}: {item}"
            for path, item in ours.items()
            if "error" in item
            or item["metadata"]["name"] != shipped[path]
            or item["metadata"]["domain"] != "automation"
        ]
        if wrong:
            raise StepFailed(f"listed otherwise than shipped: {'; '.join(wrong)}")


async def browser_blueprint_list(chromium: str, instance: Instance, steps: Steps) -> None:
    """Settings → Automations & scenes → Blueprints: a row per shipped blueprint, name and file."""
    shipped = shipped_blueprints()
    async with chromium_page(chromium, steps) as (_, page, camera):
        await log_in(page, instance, steps, camera)
        with steps.step("Settings → Automations & scenes → Blueprints"):
            settings = page.locator("ha-sidebar").get_by_text("Settings", exact=True)
            await click_to(page, settings, re.compile(r"/config(/|$)"))
            await page.get_by_text("Automations & scenes", exact=True).click()
            await page.wait_for_url("**/config/automation/dashboard**")
            await page.get_by_role("link", name="Blueprints", exact=True).click()
            await page.wait_for_url("**/config/blueprint/dashboard**")
        with steps.step("each shipped blueprint is a row with its name and file"):
            for path, name in shipped.items():
                row = page.get_by_role("row").filter(has_text=path)
                await expect(row).to_have_count(1)
                await expect(row.get_by_role("rowheader")).to_have_text(name)
            await camera.shoot(page, "blueprints-list")
