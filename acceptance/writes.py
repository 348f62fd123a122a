"""Writing to SportTracks as a user does: the actions from the actions page, and a blueprint.

``browser actions``: in Chromium, the actions page of Home Assistant's tools (Developer tools →
Actions; from 2026.11 Settings → Tools → Actions), in YAML mode, performs
``health_trackers.add_body_metrics`` (a weight in pounds) and ``health_trackers.add_workout``;
each answer is on the page and screenshotted, the fake then holds the weight in kilograms at the
time given and the workout with its type, start and energy in kJ, and the sensors show them.

``blueprint boditrax scan to sporttracks``: the blueprint imported by its address, an automation
made of it; a new scan at the Boditrax fake, and the SportTracks fake then holds that scan's weight
and body fat (a fraction) at the scan's own time.

Both use the demo's second accounts, so the soak's default accounts keep their own history.
"""

from __future__ import annotations

from datetime import UTC, datetime
import re
from typing import Any

from playwright.async_api import Page, expect

from .blueprints import automation_from, second_account
from .browser import Camera, chromium_page, goto, log_in
from .calendars import fake_records
from .home_assistant import Instance
from .rest import Journey, remove_all
from .services import SERVICES_BY_NAME
from .steps import StepFailed, Steps, wait_until

POUNDS = 186.7
"""The weight the action sends, in lb: 84.69 kg."""
KG_PER_LB = 0.45359237
KJ_PER_KCAL = 4.184


async def _measured(journey: Journey, account: str, metric: str, at: datetime) -> float:
    """The fake's value of ``metric`` at ``at`` once it holds one."""

    async def held() -> float | None:
        return (await journey.fake.measurements(account)).get(metric, {}).get(at)

    return await wait_until(held, f"the fake's {metric} at {at.isoformat()}")


async def _perform(
    page: Page, camera: Camera, yaml: str, answer: re.Pattern[str], shot: str
) -> None:
    """The actions page in YAML mode performs ``yaml``; its answer must match ``answer``.

    2026.x shows a UI mode / YAML mode switch; 2025.4 a "Go to YAML mode" button, until chosen.
    """
    perform = page.get_by_role("button", name=re.compile(r"Perform action", re.IGNORECASE))
    await perform.wait_for()
    if await (to_yaml := page.get_by_role("button", name=re.compile(r"YAML mode"))).count():
        await to_yaml.click()
    editor = page.locator(".cm-content").first
    await editor.click()
    await page.keyboard.press("Control+a")
    await page.keyboard.press("Delete")
    await editor.fill(yaml)
    await perform.click()
    # The answer is the second editor; it highlights keys and values apart, so its whole text.
    await expect(page.locator(".cm-content").nth(1)).to_contain_text(answer)
    await camera.shoot(page, shot)


async def browser_actions(chromium: str, instance: Instance, steps: Steps) -> None:
    """add_body_metrics and add_workout from the actions page; the fake holds what they sent."""
    journey = Journey(instance, SERVICES_BY_NAME["sporttracks"])
    async with second_account(journey, steps) as account:
        await journey.add(steps)
        device = await journey.device_id()
        # Now: after whatever earlier scenarios added to the account, so these are its newest.
        measured = start = datetime.now(UTC).replace(microsecond=0)
        async with chromium_page(chromium, steps) as (_, page, camera):
            await log_in(page, instance, steps, camera)
            with steps.step("the actions page: add_body_metrics, 186.7 lb; the answer in kg"):
                await goto(page, f"{instance.base_url}/developer-tools/action")
                yaml = (
                    "action: health_trackers.add_body_metrics\ndata:\n"
                    f"  device_id: {device}\n  weight: {POUNDS}\n  weight_unit: lb\n"
                    f'  body_fat: 21.1\n  measured_at: "{measured.isoformat()}"\n'
                )
                await _perform(
                    page, camera, yaml, re.compile(r"weight: 84\.69"), "add-body-metrics"
                )
            with steps.step("the actions page: add_workout; the answer gives its id and page"):
                await goto(page, f"{instance.base_url}/developer-tools/action")
                yaml = (
                    "action: health_trackers.add_workout\ndata:\n"
                    f'  device_id: {device}\n  type: "Running: Trail"\n'
                    f'  start: "{start.isoformat()}"\n  duration: "00:45:00"\n'
                    "  distance: 8.5\n  energy: 520\n  average_heart_rate: 148\n"
                    "  name: Morning run\n"
                )
                await _perform(page, camera, yaml, re.compile(r"created: true"), "add-workout")
        with steps.step("the fake holds the weight in kg and the body fat as a fraction"):
            weight = await _measured(journey, account, "weight", measured)
            fat = await _measured(journey, account, "bodyFat", measured)
            if abs(weight - POUNDS * KG_PER_LB) > 0.01 or abs(fat - 0.211) > 1e-6:
                raise StepFailed(f"the fake holds {weight} kg and {fat} at {measured}")
        with steps.step("the fake holds the workout once, energy in kJ"):
            workouts = [
                record
                for record in await fake_records(journey, account)
                if datetime.fromisoformat(record["start"]) == start
            ]
            if len(workouts) != 1:
                raise StepFailed(f"{len(workouts)} workouts start at {start}: {workouts}")
            (workout,) = workouts
            if (
                workout["type"] != "Running: Trail"
                or abs(float(workout["calories_kj"]) - 520 * KJ_PER_KCAL) > 0.01
            ):
                raise StepFailed(f"the fake holds {workout}")
        with steps.step("the sensors show the new weight and the new workout"):

            async def shown() -> bool | None:
                states = await journey.states()
                weight_shown = abs(float(states["weight"]) - POUNDS * KG_PER_LB) < 0.01
                return (
                    True
                    if weight_shown and states["latest_workout_type"] == workout["type"]
                    else None
                )

            await wait_until(shown, "the weight and the workout in the sensors")
        await journey.remove(steps)


async def blueprint_scan_to_sporttracks(instance: Instance, steps: Steps) -> None:
    """boditrax_scan_to_sporttracks.yaml: a new scan's weight and body fat reach SportTracks."""
    sporttracks = Journey(instance, SERVICES_BY_NAME["sporttracks"])
    boditrax = Journey(instance, SERVICES_BY_NAME["boditrax"])
    async with (
        second_account(sporttracks, steps) as athlete,
        second_account(boditrax, steps) as member,
    ):
        await sporttracks.add(steps)
        await boditrax.add(steps)
        inputs: dict[str, Any] = {
            "scan_event": (await boditrax.entities())["new_scan"],
            "sporttracks_account": await sporttracks.device_id(),
        }
        async with automation_from(instance, steps, "boditrax_scan_to_sporttracks.yaml", inputs):
            with steps.step("a new scan at the Boditrax fake; poll"):
                added = await boditrax.fake.add_record(member)
                await boditrax.poll()
            with steps.step("the SportTracks fake holds its weight and body fat at its time"):
                (scan,) = [
                    record
                    for record in await fake_records(boditrax, member)
                    if record["id"] == added.id
                ]
                at = added.measured_at.astimezone(UTC)
                values = scan["measurements"]
                weight = await _measured(sporttracks, athlete, "weight", at)
                fat = await _measured(sporttracks, athlete, "bodyFat", at)
                expected = values["FatMass"] / values["BodyWeight"]
                if abs(weight - values["BodyWeight"]) > 0.01 or abs(fat - expected) > 1e-3:
                    raise StepFailed(
                        f"the fake holds {weight} kg, {fat} at {at}; the scan {values}"
                    )
        with steps.step("remove the accounts"):
            await remove_all(instance)
