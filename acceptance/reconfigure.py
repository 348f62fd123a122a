"""Reconfigure, for every way in: the flow ends with the way's own reason and its own words.

An added account is reconfigured as the frontend's **Reconfigure** does: it posts the handler
and the entry's id to the flow endpoint (2025.4's frontend also sends ``show_advanced_options``),
and Home Assistant starts the flow with source ``reconfigure``. Its steps are answered as a user
would (the consent page approved, the forms filled in), and its last words are read as the
dialog shows them: the integration's English text for the abort reason, as Home Assistant serves
it to the frontend (``frontend/get_translations``), its placeholders filled in. A way that asks
for no application credential (BACtrack's consumer key, Boditrax's linked account) must not
speak of one. In Chromium, a Boditrax linked account is reconfigured from the integration's
page: ⋮ → Reconfigure, the external secret typed again, and the dialog's words read on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import re
from typing import Any

from playwright.async_api import expect

from scripts.demo import DOMAIN, REPO_ROOT

from .browser import chromium_page, goto, log_in
from .home_assistant import Instance
from .rest import FLOW, Journey
from .services import (
    LINKED_SECRET,
    LINKED_USERNAME,
    SERVICES_BY_NAME,
    STRINGS,
    Reconfigured,
    ServiceUnderTest,
)
from .steps import StepFailed, Steps

PLACEHOLDER = re.compile(r"\{(\w+)\}")
ENTRY_ROW = "ha-config-entry-row, ha-md-list-item"
"""An entry on the integration's page: its own row on 2026.11, a list item on 2025.4."""
RECONFIGURE = re.compile(r"^\s*reconfigure\s*$", re.IGNORECASE)
"""The entry menu's item."""


async def flow_text(instance: Instance, kind: str, result: Mapping[str, Any]) -> str:
    """What the dialog says for a flow's result: its English text, placeholders filled in.

    ``kind`` is the result's kind in the translations (``abort``); the text is the one Home
    Assistant serves the frontend, filled in with the result's ``description_placeholders``.
    """
    async with instance.websocket() as ws:
        translations = await ws.call(
            "frontend/get_translations", language="en", category="config", integration=[DOMAIN]
        )
    key = f"component.{DOMAIN}.config.{kind}.{result['reason']}"
    if (text := translations["resources"].get(key)) is None:
        raise StepFailed(f"Home Assistant serves no English text {key}")
    placeholders = result.get("description_placeholders") or {}
    filled = PLACEHOLDER.sub(lambda found: str(placeholders.get(found[1], found[0])), str(text))
    if left := PLACEHOLDER.findall(filled):
        raise StepFailed(f"{key}: placeholders {left} not filled in: {filled!r}")
    return filled


def check_words(text: str, expected: Reconfigured) -> None:
    """The text says what this way signed in again with, and names no credential it did not ask."""
    if expected.says.casefold() not in text.casefold():
        raise StepFailed(f"the dialog says {text!r}, which does not mention {expected.says!r}")
    if not expected.credential and "credential" in text.casefold():
        raise StepFailed(f"the dialog says {text!r}, but this way asks for no credential")


async def signed_in_anew(journey: Journey, before: int) -> None:
    """The fake was asked for a new sign-in since it counted ``before`` (not a token refresh)."""
    if (now := await journey.sign_ins()) <= before:
        raise StepFailed(f"no new sign-in at the fake ({now} sign-in requests, {before} before)")


def _reconfigured(service: ServiceUnderTest) -> Reconfigured:
    if service.reconfigured is None:
        raise StepFailed(f"acceptance/services.py says nothing of {service.name}'s reconfigure")
    return service.reconfigured


async def offers_reconfigure(journey: Journey) -> None:
    """The entry says it supports reconfigure (the frontend shows the menu item only then)."""
    entries = {entry["entry_id"]: entry for entry in await journey.instance.entries()}
    entry = entries.get(journey.entry_id)
    if entry is None or not entry.get("supports_reconfigure"):
        raise StepFailed(f"the entry offers no Reconfigure: {entry}")


async def rest_reconfigure(service: ServiceUnderTest, instance: Instance, steps: Steps) -> None:
    """Add an account, reconfigure it as the frontend does: the way's reason and words; remove."""
    expected = _reconfigured(service)
    journey = Journey(instance, service)
    await journey.add(steps)
    with steps.step("the entry offers Reconfigure"):
        await offers_reconfigure(journey)
    sign_ins = await journey.sign_ins()
    with steps.step(f"reconfigure as the frontend does; it ends with {expected.reason}"):
        body = instance.release.new_flow(DOMAIN, journey.entry_id)
        result = await journey.finish_flow(await instance.rest("POST", FLOW, body))
        if result["type"] != "abort" or result.get("reason") != expected.reason:
            raise StepFailed(f"the reconfigure ended with {result}, not {expected.reason}")
    with steps.step("it signed in anew at the fake"):
        await signed_in_anew(journey, sign_ins)
    with steps.step("the dialog's words are this way's own"):
        text = await flow_text(instance, "abort", result)
        check_words(text, expected)
        print(f"  {steps.label}: the dialog says {text!r}", flush=True)
    with steps.step("the entry is loaded again, its sensors show the fake's values"):
        await journey.loaded_entry()
        await journey.values_match()
    await journey.remove(steps)


async def browser_reconfigure_linked(chromium: str, instance: Instance, steps: Steps) -> None:
    """Reconfigure a Boditrax linked account in Chromium: its external secret, typed again.

    The form shows the entry's external username, filled in, and an empty secret; submitted,
    the dialog says the linked account is signed in again with the secret entered.
    """
    service = SERVICES_BY_NAME["boditrax linked"]
    expected = _reconfigured(service)
    journey = Journey(instance, service)
    await journey.add(steps)
    with steps.step("the entry offers Reconfigure; its words"):
        await offers_reconfigure(journey)
        words = await flow_text(instance, "abort", {"reason": expected.reason})
        check_words(words, expected)
    sign_ins = await journey.sign_ins()
    strings = json.loads((REPO_ROOT / STRINGS).read_text(encoding="utf-8"))
    labels = strings["config"]["step"]["linked_account"]["data"]
    async with chromium_page(chromium, steps) as (_, page, camera):
        await log_in(page, instance, steps, camera)
        with steps.step("Settings → Devices & services → Health Trackers → ⋮ → Reconfigure"):
            await goto(page, f"{instance.base_url}/config/integrations/integration/{DOMAIN}")
            title = next(
                entry["title"]
                for entry in await instance.entries()
                if entry["entry_id"] == journey.entry_id
            )
            row = page.locator(ENTRY_ROW).filter(has_text=title)
            await row.get_by_role("button", name="Menu").first.click()
            item = page.get_by_role("menuitem", name=RECONFIGURE)
            await item.wait_for()
            await camera.shoot(page, "entry-menu")
            await item.click()
        with steps.step("the form shows the external username filled in; type the secret"):
            username = page.get_by_role(
                "textbox", name=re.compile(rf"^{re.escape(labels['username'])}\s*\*?$")
            )
            await expect(username).to_have_value(LINKED_USERNAME)
            secret = page.get_by_role(
                "textbox", name=re.compile(rf"^{re.escape(labels['password'])}\s*\*?$")
            )
            await expect(secret).to_have_value("")
            await secret.click()
            # Typed key by key: after a fill, a password field's label stays over the dots.
            await secret.press_sequentially(LINKED_SECRET)
            await camera.shoot(page, "reconfigure-form")
            await page.get_by_role("button", name="Submit").click()
        with steps.step("the dialog says the linked account is signed in again"):
            await expect(page.get_by_text(words, exact=True)).to_be_visible()
            await camera.shoot(page, "reconfigured")
            await page.get_by_role("button", name="Close", exact=True).last.click()
            await expect(page.get_by_text(words, exact=True)).to_be_hidden()
    with steps.step("it signed in anew at the fake; the entry is loaded again with its values"):
        await signed_in_anew(journey, sign_ins)
        await journey.loaded_entry()
        await journey.values_match()
    await journey.remove(steps)
