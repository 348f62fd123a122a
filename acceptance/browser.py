"""A user in a real browser: Chromium from the system, driven by Playwright.

Each scenario logs in and goes where a user goes: Settings → Devices & services → Add integration
→ Health Trackers → the service, then the service's consent page (a popup) or the integration's
forms, the success dialog and the device's page; or an account's options; or Deny on a consent
page; or a device page's Activity after new data. Each step leaves a numbered screenshot in the
scenario's directory; a failure leaves one of every open page. Locators are roles and texts,
which pierce the frontend's shadow roots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
import json
import re
from typing import Any

from playwright.async_api import (
    BrowserContext,
    Error as PlaywrightError,
    FloatRect,
    Locator,
    Page,
    TimeoutError as PlaywrightTimeoutError,
    ViewportSize,
    async_playwright,
    expect,
)

from fakes.sporttracks import DEMO_ACCOUNT
from scripts.demo import DOMAIN, PASSWORD, REPO_ROOT, USERNAME

from .home_assistant import Instance
from .rest import Journey, remove_all
from .services import (
    BODITRAX_DEMO_LINKED,
    SERVICES_BY_NAME,
    STRINGS,
    Expected,
    ServiceUnderTest,
    bactrack_personal_values,
)
from .steps import StepFailed, Steps, wait_until

BROWSER_SERVICES = tuple(SERVICES_BY_NAME[name] for name in ("sporttracks", "bactrack", "boditrax"))
"""The services the browser adds through their consent page (a popup)."""
UI_SECONDS = 30
NAVIGATION_MS = 5000
"""How long a click on a link may take to change the URL before it is clicked again."""
VIEWPORT = ViewportSize(width=1280, height=800)
FINISH = re.compile(r"finish", re.IGNORECASE)
"""The success dialog's button: "Skip and finish" on 2026.10 and 2026.11, "Finish" on 2025.4."""
DENIED = (
    "Access was not granted: Home Assistant was not allowed on the SportTracks page. "
    "Add the account again and select Allow to link it."
)
"""What the dialog says after Deny on SportTracks's consent page (the README quotes it)."""
CONFIGURE = re.compile(r"^configure$", re.IGNORECASE)
"""An entry's options button: a gear labelled Configure (2026.11), a CONFIGURE button (2025.4)."""


class Camera:
    """Numbered screenshots, so the directory reads as the story of the scenario."""

    def __init__(self, steps: Steps) -> None:
        """Shoot into the scenario's directory."""
        self.steps = steps
        self.taken = 0

    async def shoot(self, page: Page, name: str, height: float | None = None) -> None:
        """Save what ``page`` shows now as ``NN-name.png`` (its top ``height`` pixels if given)."""
        self.taken += 1
        clip = (
            None if height is None else FloatRect(x=0, y=0, width=VIEWPORT["width"], height=height)
        )
        await page.screenshot(path=self.steps.directory / f"{self.taken:02d}-{name}.png", clip=clip)


@contextlib.asynccontextmanager
async def chromium_page(
    chromium: str, steps: Steps
) -> AsyncIterator[tuple[BrowserContext, Page, Camera]]:
    """A fresh Chromium with one page; on a failure, a screenshot of every open page."""
    async with async_playwright() as playwright:
        with steps.step("start Chromium"):
            browser = await playwright.chromium.launch(executable_path=chromium)
        try:
            context = await browser.new_context(viewport=VIEWPORT, locale="en-US")
            context.set_default_timeout(UI_SECONDS * 1000)
            try:
                yield context, await context.new_page(), Camera(steps)
            except Exception:
                for number, page in enumerate(context.pages):
                    await page.screenshot(path=steps.directory / f"failure-{number}.png")
                raise
        finally:
            await browser.close()


async def log_in(page: Page, instance: Instance, steps: Steps, camera: Camera) -> None:
    """Open Home Assistant and log in as the onboarded owner."""
    with steps.step("log in"):
        await page.goto(instance.base_url)
        await page.get_by_role("textbox", name="Username").fill(USERNAME)
        await page.get_by_role("textbox", name="Password").fill(PASSWORD)
        await camera.shoot(page, "login")
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(lambda url: "/auth/" not in url and "auth_callback" not in url)
        await page.locator("ha-sidebar").get_by_text("Settings", exact=True).wait_for()


async def open_menu(page: Page, steps: Steps, camera: Camera) -> None:
    """Settings → Devices & services → Add integration → Health Trackers: the services' menu."""
    with steps.step("Settings → Devices & services"):
        settings = page.locator("ha-sidebar").get_by_text("Settings", exact=True)
        await click_to(page, settings, re.compile(r"/config(/|$)"))
        await page.get_by_text("Devices & services", exact=True).click()
        await page.wait_for_url("**/config/integrations/dashboard")
        await camera.shoot(page, "devices-and-services")
    with steps.step("Add integration → search Health Trackers"):
        await page.get_by_role("button", name="Add integration").click()
        dialog = page.locator("dialog-add-integration")
        await dialog.get_by_role("textbox").first.fill("Health Trackers")
        result = dialog.get_by_text("Health Trackers")
        await result.wait_for()
        await camera.shoot(page, "search")
        await result.click()


async def browser_journey(
    service: ServiceUnderTest, chromium: str, instance: Instance, steps: Steps
) -> None:
    """Add ``service``'s account through the UI and its consent page; remove it by the API."""
    info = instance.services[service.service]
    expected = await service.read_values(info)
    async with chromium_page(chromium, steps) as (context, page, camera):
        await log_in(page, instance, steps, camera)
        await open_menu(page, steps, camera)
        with steps.step(f"choose {service.menu_label}; the consent page opens"):
            menu_item = page.get_by_text(service.menu_label)
            await menu_item.wait_for()
            await camera.shoot(page, "menu")
            async with context.expect_page() as opened:
                await menu_item.click()
                await _fill_forms(page, camera, service.answers(info))
            consent = await opened.value
            await consent.locator("#allow").wait_for()
            await camera.shoot(consent, "consent")
        with steps.step("Allow; the popup closes, the success dialog shows the device"):
            async with consent.expect_event("close"):
                await consent.locator("#allow").click()
        await _finish(page, instance, steps, camera, expected)
    await remove_all(instance)


async def browser_linked_account(chromium: str, instance: Instance, steps: Steps) -> None:
    """Add the demo's second Boditrax member through the linked-account form (no consent page)."""
    service = BODITRAX_DEMO_LINKED
    info = instance.services[service.service]
    expected = await service.read_values(info)
    async with chromium_page(chromium, steps) as (_, page, camera):
        await log_in(page, instance, steps, camera)
        await open_menu(page, steps, camera)
        with steps.step(f"choose {service.menu_label}; type the external username and secret"):
            menu_item = page.get_by_text(service.menu_label)
            await menu_item.wait_for()
            await camera.shoot(page, "menu")
            await menu_item.click()
            await _fill_forms(page, camera, service.answers(info))
        await _finish(page, instance, steps, camera, expected)
    await remove_all(instance)


async def browser_deny(chromium: str, instance: Instance, steps: Steps) -> None:
    """Deny on SportTracks's consent page: the dialog says so in plain words; nothing is added."""
    service = SERVICES_BY_NAME["sporttracks"]
    async with chromium_page(chromium, steps) as (context, page, camera):
        await log_in(page, instance, steps, camera)
        await open_menu(page, steps, camera)
        with steps.step(f"choose {service.menu_label}; the consent page opens"):
            menu_item = page.get_by_text(service.menu_label)
            await menu_item.wait_for()
            async with context.expect_page() as opened:
                await menu_item.click()
            consent = await opened.value
            await consent.locator("#deny").wait_for()
            await camera.shoot(consent, "consent")
        with steps.step("Deny; the popup closes, the dialog says access was not granted"):
            async with consent.expect_event("close"):
                await consent.locator("#deny").click()
            await expect(page.get_by_text(DENIED, exact=True)).to_be_visible()
            await camera.shoot(page, "denied")
        with steps.step("close the dialog; no account was added"):
            await page.get_by_role("button", name="Close", exact=True).last.click()
            await expect(page.get_by_text(DENIED, exact=True)).to_be_hidden()
            if entries := await instance.entries():
                raise StepFailed(f"Deny added {entries}")
    await remove_all(instance)


async def browser_options(chromium: str, instance: Instance, steps: Steps) -> None:
    """A BACtrack account's one option: location and notes of the latest reading, turned on."""
    journey = Journey(instance, SERVICES_BY_NAME["bactrack"])
    await journey.add(steps)
    option = _strings()["options"]["step"]["init"]["data"]["personal_data"]
    async with chromium_page(chromium, steps) as (_, page, camera):
        await log_in(page, instance, steps, camera)
        with steps.step("Settings → Devices & services → Health Trackers"):
            await goto(page, f"{instance.base_url}/config/integrations/integration/{DOMAIN}")
            configure = page.get_by_role("button", name=CONFIGURE).first
            await configure.wait_for()
            await camera.shoot(page, "integration")
        with steps.step("Configure: the one option, off"):
            await configure.click()
            switch = page.get_by_role("switch", name=option)
            await expect(switch).not_to_be_checked()
            await camera.shoot(page, "options")
        with steps.step("turn it on and submit; the entry reloads"):
            # The switch's visible part (its input lies under it; its label is not clickable).
            await page.locator("ha-switch").filter(has=switch).click()
            await expect(switch).to_be_checked()
            await camera.shoot(page, "options-on")
            await page.get_by_role("button", name="Submit").click()
            await expect(page.get_by_text("Options successfully saved.")).to_be_visible()
            await camera.shoot(page, "options-saved")
            await page.get_by_role("button", name=FINISH).click()
            # Closing a dialog goes back in the browser's history: wait until it is closed, or
            # that step back could undo the opening of the next page.
            await expect(page.get_by_text("Options successfully saved.")).to_be_hidden()
            journey.expected = await bactrack_personal_values(journey.info)
            await journey.loaded_entry()
            await journey.values_match()
        with steps.step("the device page shows the location and notes sensors"):
            await goto(
                page, f"{instance.base_url}/config/devices/device/{await journey.device_id()}"
            )
            await _expect_device_page(page, await _entry_title(instance), journey.expected)
            await camera.shoot(page, "device")
    await remove_all(instance)


async def browser_activity(chromium: str, instance: Instance, steps: Steps) -> None:
    """The device page's Activity shows what changed: a new workout of the demo's second user."""
    service = SERVICES_BY_NAME["sporttracks"]
    journey = Journey(instance, service)
    account, name, _ = DEMO_ACCOUNT
    signed_in = await journey.fake.signed_in()
    with steps.step(f"the fake's page signs in {name}, the demo's second user"):
        await journey.fake.sign_in_as(account)
    try:
        await journey.add(steps)
        with steps.step("a new workout at the fake; poll"):
            await journey.fake.add_record(account)
            journey.expected = await service.read_values(journey.info)
            await journey.poll()
            await journey.values_match()
    finally:
        await journey.fake.sign_in_as(signed_in)
    names = {key: entity["name"] for key, entity in _strings()["entity"]["sensor"].items()}
    async with chromium_page(chromium, steps) as (_, page, camera):
        await log_in(page, instance, steps, camera)
        with steps.step("the device page's Activity shows the new workout"):
            await goto(
                page, f"{instance.base_url}/config/devices/device/{await journey.device_id()}"
            )
            await _expect_device_page(page, await _entry_title(instance), journey.expected)
            activity = page.locator("ha-logbook")
            await expect(activity).to_contain_text(names["latest_workout_type"])
            await expect(activity).to_contain_text(str(journey.expected["latest_workout_type"]))
            await camera.shoot(page, "device-activity")
    await remove_all(instance)


async def _finish(
    page: Page, instance: Instance, steps: Steps, camera: Camera, expected: dict[str, Expected]
) -> None:
    """The success dialog, then the device page with the account's sensors."""
    with steps.step("the success dialog shows the device"):
        finish = page.get_by_role("button", name=FINISH)
        await finish.wait_for()
        await camera.shoot(page, "success")
        title = await _entry_title(instance)
    with steps.step("finish; the device page shows its sensors"):
        await finish.click()
        await _open_device(page)
        await _expect_device_page(page, title, expected)
        await camera.shoot(page, "device")


async def click_to(page: Page, link: Locator, url: re.Pattern[str], tries: int = 3) -> None:
    """Click ``link`` until the page is at ``url``.

    Right after logging in, while the frontend still starts (and moves from / to the
    dashboard's own URL by itself), a click on the sidebar can go unheard (seen on 2025.4).
    """
    for attempt in range(1, tries + 1):
        await link.click()
        try:
            await page.wait_for_url(url, timeout=NAVIGATION_MS)
        except PlaywrightTimeoutError:
            if attempt == tries:
                raise
        else:
            return


async def goto(page: Page, url: str, tries: int = 3) -> None:
    """Open ``url``; again if the frontend's own navigation cut it short (net::ERR_ABORTED)."""
    for attempt in range(1, tries + 1):
        try:
            await page.goto(url)
        except PlaywrightError as err:
            if "ERR_ABORTED" not in str(err) or attempt == tries:
                raise
            await page.wait_for_load_state()
        else:
            return


async def _entry_title(instance: Instance) -> str:
    """The title of the one entry there is; it must be loaded."""

    async def loaded() -> str | None:
        entries = await instance.entries()
        if len(entries) != 1 or entries[0]["state"] != "loaded":
            raise StepFailed(f"expected one loaded entry, found {entries}")
        return str(entries[0]["title"])

    return await wait_until(loaded, "one loaded entry")


async def _open_device(page: Page) -> None:
    """Finishing opens the device on 2026.11; 2025.4 opens the integration's page, which links it."""
    try:
        await page.wait_for_url("**/config/devices/device/**", timeout=5000)
    except PlaywrightTimeoutError:
        await page.wait_for_url("**/config/integrations/integration/health_trackers**")
        await page.get_by_role("link", name="1 service").last.click()
        await page.wait_for_url("**/config/devices/device/**")


def _strings() -> Any:
    """The integration's English strings: what the frontend shows for its forms and sensors."""
    return json.loads((REPO_ROOT / STRINGS).read_text(encoding="utf-8"))


async def _fill_forms(page: Page, camera: Camera, answers: dict[str, dict[str, Any]]) -> None:
    """Type into each form of the flow what the user would, by the fields' labels; submit."""
    steps = _strings()["config"]["step"]
    for step_id, fields in answers.items():
        for field, value in fields.items():
            label = re.escape(steps[step_id]["data"][field])
            box = page.get_by_role("textbox", name=re.compile(rf"^{label}\s*\*?$"))  # *: required
            await box.click()
            # Typed key by key: after a fill, a password field's label stays over the dots.
            await box.press_sequentially(value)
        await camera.shoot(page, step_id)
        await page.get_by_role("button", name="Submit").click()


async def _expect_device_page(page: Page, title: str, expected: dict[str, Expected]) -> None:
    """The device's name and a row per checked sensor; text values are the fake's.

    Then the page has settled, as a user would see it: every sensor row has its icon (they load
    after the rows) and the Activity card has stopped loading.
    """
    await expect(page.get_by_text(title).first).to_be_visible()
    names = {key: entity["name"] for key, entity in _strings()["entity"]["sensor"].items()}
    for key, value in expected.items():
        row = page.locator("hui-sensor-entity-row").filter(has_text=names[key]).first
        await expect(row).to_be_visible()
        if isinstance(value, str):
            await expect(row).to_contain_text(value)
    rows = page.locator("hui-sensor-entity-row")
    with_icon = rows.filter(has=page.locator("state-badge svg path"))
    await expect(with_icon).to_have_count(await rows.count())
    activity = page.locator("ha-logbook")
    await expect(activity.locator("ha-spinner, ha-circular-progress")).to_have_count(0)
