"""A user adds an account in a real browser: Chromium from the system, driven by Playwright.

Log in, Settings → Devices & services → Add integration → Health Trackers → the service, allow
on the service's consent page (a popup), then the success dialog and the device's page. Each
step leaves a numbered screenshot in the scenario's directory; a failure leaves one of every
open page. Locators are roles and texts, which pierce the frontend's shadow roots.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.async_api import (
    BrowserContext,
    Locator,
    Page,
    TimeoutError as PlaywrightTimeoutError,
    ViewportSize,
    async_playwright,
    expect,
)

from scripts.demo import DOMAIN, PASSWORD, REPO_ROOT, USERNAME

from .home_assistant import Instance
from .rest import remove_all
from .services import SERVICES_BY_NAME, Expected, ServiceUnderTest
from .steps import StepFailed, Steps

BROWSER_SERVICES = tuple(SERVICES_BY_NAME[name] for name in ("sporttracks", "bactrack"))
"""The services the browser adds (the others differ only in what the APIs already cover)."""
STRINGS = f"custom_components/{DOMAIN}/translations/en.json"
UI_SECONDS = 30
NAVIGATION_MS = 5000
"""How long a click on a link may take to change the URL before it is clicked again."""
VIEWPORT = ViewportSize(width=1280, height=800)
FINISH = re.compile(r"finish", re.IGNORECASE)
"""The success dialog's button: "Skip and finish" on 2026.10 and 2026.11, "Finish" on 2025.4."""


class Camera:
    """Numbered screenshots, so the directory reads as the story of the scenario."""

    def __init__(self, steps: Steps) -> None:
        """Shoot into the scenario's directory."""
        self.steps = steps
        self.taken = 0

    async def shoot(self, page: Page, name: str) -> None:
        """Save what ``page`` shows now as ``NN-name.png``."""
        self.taken += 1
        await page.screenshot(path=self.steps.directory / f"{self.taken:02d}-{name}.png")


async def browser_journey(
    service: ServiceUnderTest, chromium: str, instance: Instance, steps: Steps
) -> None:
    """Add ``service``'s account through the UI; remove it afterwards through the API."""
    async with async_playwright() as playwright:
        with steps.step("start Chromium"):
            browser = await playwright.chromium.launch(executable_path=chromium)
        try:
            context = await browser.new_context(viewport=VIEWPORT, locale="en-US")
            context.set_default_timeout(UI_SECONDS * 1000)
            try:
                await _add_account(service, instance, steps, context)
            except Exception:
                for number, page in enumerate(context.pages):
                    await page.screenshot(path=steps.directory / f"failure-{number}.png")
                raise
        finally:
            await browser.close()
    await remove_all(instance)


async def _add_account(
    service: ServiceUnderTest, instance: Instance, steps: Steps, context: BrowserContext
) -> None:
    camera = Camera(steps)
    page = await context.new_page()
    info = instance.services[service.service]
    expected = await service.read_values(info)
    with steps.step("log in"):
        await page.goto(instance.base_url)
        await page.get_by_role("textbox", name="Username").fill(USERNAME)
        await page.get_by_role("textbox", name="Password").fill(PASSWORD)
        await camera.shoot(page, "login")
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(lambda url: "/auth/" not in url and "auth_callback" not in url)
    with steps.step("Settings → Devices & services"):
        await _click_to(page, page.locator("ha-sidebar").get_by_text("Settings", exact=True))
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
        finish = page.get_by_role("button", name=FINISH)
        await finish.wait_for()
        await camera.shoot(page, "success")
        title = await _new_entry_title(instance)
    with steps.step("finish; the device page shows its sensors"):
        await finish.click()
        await _open_device(page)
        await _expect_device_page(page, title, expected)
        await camera.shoot(page, "device")


async def _click_to(page: Page, link: Locator, tries: int = 3) -> None:
    """Click ``link`` until the page leaves its URL.

    Right after logging in, while the frontend still starts, a click on the sidebar can go
    unheard (seen on 2025.4).
    """
    before = page.url
    for attempt in range(1, tries + 1):
        await link.click()
        try:
            await page.wait_for_url(lambda url: url != before, timeout=NAVIGATION_MS)
        except PlaywrightTimeoutError:
            if attempt == tries:
                raise
        else:
            return


async def _new_entry_title(instance: Instance) -> str:
    """The title of the one entry the browser added; it must be loaded."""
    entries = await instance.entries()
    if len(entries) != 1 or entries[0]["state"] != "loaded":
        raise StepFailed(f"expected one loaded entry, found {entries}")
    return str(entries[0]["title"])


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
            await box.fill(value)
        await camera.shoot(page, step_id)
        await page.get_by_role("button", name="Submit").click()


async def _expect_device_page(page: Page, title: str, expected: dict[str, Expected]) -> None:
    """The device's name and a row per checked sensor; text values are the fake's."""
    await expect(page.get_by_text(title).first).to_be_visible()
    names = {key: entity["name"] for key, entity in _strings()["entity"]["sensor"].items()}
    for key, value in expected.items():
        row = page.locator("hui-sensor-entity-row").filter(has_text=names[key]).first
        await expect(row).to_be_visible()
        if isinstance(value, str):
            await expect(row).to_contain_text(value)
