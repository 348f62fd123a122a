"""The user's journey over Home Assistant's REST and websocket APIs, as its frontend makes it.

Add the account (consent page approved like a browser), check its sensors against the fake,
revoke access and sign in again through the reauth flow, restart, remove the account.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
import math
from typing import Any

import aiohttp
from yarl import URL

from custom_components.health_trackers.providers import PROVIDERS
from scripts.demo import DOMAIN

from .home_assistant import Instance
from .services import Expected, Fake, ServiceUnderTest, consent
from .steps import StepFailed, Steps, wait_until

FLOW = "/api/config/config_entries/flow"
OAUTH2_CALLBACK = f"/api/{DOMAIN}/oauth2/callback"
"""The integration's own OAuth 2.0 callback (Boditrax's, as the README tells to register)."""
MAX_FLOW_STEPS = 10
"""More steps than any flow of the integration has: a form shown again and again is a failure."""
REVOKED_LOG = r"^Authentication failed while fetching .+ data: "
"""What the poll after the journey's revoke logs (Home Assistant's coordinator, as the integration's
logger): the one line about the integration the journey expects (see ``acceptance.logs``)."""


def _same_number(state: str, value: float) -> bool:
    """Whether ``state`` is ``value``, as far as the digits the state shows go.

    The integration may round a converted value to what the service measures (59.483 min →
    59.5); a state with more digits than that is compared within 1e-5 (Home Assistant converts it
    to the unit shown from the rounded value: 113.533 min is 1.8922167 h, 3e-6 off).
    """
    decimals = len(state.partition(".")[2]) if "." in state else 0
    return math.isclose(float(state), value, rel_tol=1e-5) or float(state) == round(value, decimals)


def mismatches(expected: Mapping[str, Expected], states: Mapping[str, str]) -> list[str]:
    """The sensors whose state differs from what the fake serves, each saying how."""
    wrong = []
    for key, value in expected.items():
        state = states.get(key, "(no entity)")
        try:
            if isinstance(value, datetime):
                same = datetime.fromisoformat(state) == value
            elif isinstance(value, float):
                same = _same_number(state, value)
            else:
                same = state == value
        except ValueError:
            same = False
        if not same:
            wrong.append(f"{key} is {state!r}, the fake serves {value!r}")
    return wrong


class Journey:
    """One account's way through Home Assistant, with the helpers its steps share."""

    def __init__(self, instance: Instance, service: ServiceUnderTest) -> None:
        """Nothing happens until ``run``."""
        self.instance = instance
        self.service = service
        self.info = instance.services[service.service]
        self.fake = Fake(self.info)
        self.expected: dict[str, Expected] = {}
        self.entry_id = ""
        self.callbacks: list[URL] = []
        """Where the service sent the browser back to, sign-in after sign-in."""

    async def finish_flow(self, result: dict[str, Any]) -> dict[str, Any]:
        """Answer forms and approve external steps until the flow ends; return its last result."""
        answers = self.service.answers(self.info)
        for _ in range(MAX_FLOW_STEPS):
            flow = f"{FLOW}/{result.get('flow_id')}"
            match result["type"]:
                case "form" if not result.get("errors"):
                    result = await self.instance.rest(
                        "POST", flow, answers.get(result["step_id"], {})
                    )
                case "external":
                    await self.approve(result["url"])
                    result = await self.instance.rest("GET", flow)
                case "external_done":
                    result = await self.instance.rest("GET", flow)
                case "create_entry" | "abort":
                    return result
                case _:
                    raise StepFailed(f"the flow stopped at {result}")
        raise StepFailed(f"the flow goes round in circles; last at {result}")

    async def approve(self, url: str) -> None:
        """Open the external step's URL, allow, and follow the redirects as a browser does.

        One session keeps the cookies of the whole sign-in, also those of 127.0.0.1 (``unsafe``):
        a sign-in may start at a view of the integration that sets a cookie and redirects to the
        service, and its callback may need that cookie back. The service may send the browser to
        any path of Home Assistant's origin; following on from there must end at a page of it.
        """
        home = URL(self.instance.base_url).origin()
        # Chromium treats loopback http as secure, so it would send even a Secure cookie back.
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=home)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            callback = URL(await consent(session, str(home.join(URL(url)))))
            self.callbacks.append(callback)
            if callback.origin() != home:
                raise StepFailed(f"the service sent the browser to {callback}, not {home}")
            async with session.get(callback) as answer:
                if answer.status >= 400 or answer.url.origin() != home:
                    raise StepFailed(
                        f"the callback {callback.path} led to {answer.url} answering "
                        f"{answer.status}: {(await answer.text())[:300]}"
                    )

    async def loaded_entry(self) -> None:
        """Wait for the entry to be loaded."""

        async def probe() -> bool | None:
            entries = {entry["entry_id"]: entry for entry in await self.instance.entries()}
            if (entry := entries.get(self.entry_id)) is None:
                raise StepFailed("the entry is gone")
            if entry["state"] != "loaded":
                raise StepFailed(f"the entry is {entry['state']}")
            return True

        await wait_until(probe, "the entry is loaded")

    async def entities(self) -> dict[str, str]:
        """Translation key (the sensor's key here) → entity id of the entry's entities."""
        async with self.instance.websocket() as ws:
            registry = await ws.call("config/entity_registry/list")
        return {
            entity["translation_key"]: entity["entity_id"]
            for entity in registry
            if entity["config_entry_id"] == self.entry_id
        }

    async def record_event(self) -> str:
        """The entity that fires once per new record (not the one for new measurements)."""
        event = PROVIDERS[self.service.service].event
        if event is None or (entity_id := (await self.entities()).get(event.key)) is None:
            raise StepFailed(f"{self.service.name}: no event entity for its records")
        return entity_id

    async def states(self) -> dict[str, str]:
        """Translation key → state of the entry's entities."""
        entities = await self.entities()
        states = {
            state["entity_id"]: state["state"]
            for state in await self.instance.rest("GET", "/api/states")
        }
        return {key: states.get(entity, "(no state)") for key, entity in entities.items()}

    async def values_match(self, exclude: tuple[str, ...] = ()) -> None:
        """Wait until every checked sensor (but ``exclude``) shows what the fake serves."""
        expected = {key: value for key, value in self.expected.items() if key not in exclude}

        async def probe() -> bool | None:
            if wrong := mismatches(expected, await self.states()):
                raise StepFailed("; ".join(wrong))
            return True

        await wait_until(probe, "the sensors show the fake's values")

    async def unavailable(self, keys: tuple[str, ...]) -> None:
        """Wait until the entities of these translation keys are unavailable."""

        async def probe() -> bool | None:
            states = await self.states()
            if available := {key: states[key] for key in keys if states[key] != "unavailable"}:
                raise StepFailed(f"not unavailable: {available}")
            return True

        await wait_until(probe, "the entities are unavailable")

    async def sign_ins(self) -> int:
        """How many times the fake was asked for a new sign-in (refreshing a token is not one)."""
        return sum(
            1
            for request in await self.fake.requests()
            if request["path"] in self.service.sign_in_paths
            and "refresh_token" not in request["body"] + str(request["query"])
        )

    async def add(self, steps: Steps) -> str:
        """Read what the fake serves, add the account and wait for its values; its entry id."""
        with steps.step("read the fake account's values"):
            self.expected = await self.service.read_values(self.info)
        with steps.step("add the account: menu, consent page, done"):
            result = await self.instance.rest("POST", FLOW, {"handler": DOMAIN})
            if result["type"] != "menu" or self.service.menu_item not in result["menu_options"]:
                raise StepFailed(f"no menu item {self.service.menu_item}: {result}")
            result = await self.instance.rest(
                "POST", f"{FLOW}/{result['flow_id']}", {"next_step_id": self.service.menu_item}
            )
            result = await self.finish_flow(result)
            if result["type"] != "create_entry":
                raise StepFailed(f"the flow ended with {result}")
            self.entry_id = result["result"]["entry_id"]
        with steps.step("the entry is loaded and its sensors show the fake's values"):
            await self.loaded_entry()
            await self.values_match()
        return self.entry_id

    async def device_id(self) -> str:
        """The id of the entry's device."""
        async with self.instance.websocket() as ws:
            devices = await ws.call("config/device_registry/list")
        for device in devices:
            if self.entry_id in device["config_entries"]:
                return str(device["id"])
        raise StepFailed("the entry has no device")

    async def poll(self) -> None:
        """Ask the entry to read its service now, as ``homeassistant.update_entity`` does."""
        if not (entities := await self.entities()):
            raise StepFailed("the entry has no entity to poll")
        await self.instance.rest(
            "POST",
            "/api/services/homeassistant/update_entity",
            {"entity_id": next(iter(entities.values()))},
        )

    async def run(self, steps: Steps) -> None:
        """The whole journey; each step names itself in ``steps``."""
        await self.add(steps)
        await self.reauthenticate(steps)
        await self.restart(steps)
        await self.restart_while_down(steps)
        await self.remove(steps)

    async def reauth_flow(self) -> dict[str, Any]:
        """Wait for the entry's reauth flow, as the frontend lists it."""

        async def probe() -> dict[str, Any] | None:
            async with self.instance.websocket() as ws:
                flows = await ws.call("config_entries/flow/progress")
            return next(
                (
                    flow
                    for flow in flows
                    if flow["handler"] == DOMAIN
                    and flow["context"].get("source") == "reauth"
                    and flow["context"].get("entry_id") == self.entry_id
                ),
                None,
            )

        return await wait_until(probe, "a reauth flow")

    async def sign_in_again(self, flow: dict[str, Any]) -> None:
        """Go through the reauth flow as the user would; it must end signed in."""
        result = await self.finish_flow(
            await self.instance.rest("GET", f"{FLOW}/{flow['flow_id']}")
        )
        if result.get("reason") != "reauth_successful":
            raise StepFailed(f"the reauth flow ended with {result}")

    async def reauthenticate(self, steps: Steps) -> None:
        """Revoke at the fake; a poll must start a reauth flow, and signing in must recover."""
        with steps.step("revoke the tokens at the fake and poll"):
            await self.fake.revoke()
            await self.poll()
        with steps.step("a reauth flow appears"):
            flow = await self.reauth_flow()
        with steps.step("sign in again through the reauth flow"):
            await self.sign_in_again(flow)
        with steps.step("the entry recovers"):
            await self.loaded_entry()
            await self.values_match()

    async def restart(self, steps: Steps) -> None:
        """After a restart the entry must be back, with its values, without signing in again."""
        sign_ins = await self.sign_ins()
        with steps.step("restart Home Assistant"):
            await self.instance.restart()
        with steps.step("the entry is back with the same values"):
            await self.loaded_entry()
            await self.values_match()
        with steps.step("no new sign-in at the fake"):
            if (now := await self.sign_ins()) != sign_ins:
                raise StepFailed(f"{now - sign_ins} new sign-in requests at the fake")

    async def restart_while_down(self, steps: Steps) -> None:
        """A start while the service answers 503: the last values, until it is back up."""
        await self.fake.down(True)
        try:
            with steps.step("restart Home Assistant while the fake answers 503"):
                await self.instance.restart()
            with steps.step("the entry is loaded, its sensors show their values from before"):
                await self.loaded_entry()
                await self.values_match(exclude=self.service.window_keys)
            with steps.step("the figures over a window ending now and the event are unavailable"):
                events = [
                    key
                    for key, entity in (await self.entities()).items()
                    if entity.startswith("event.")
                ]
                await self.unavailable((*self.service.window_keys, *events))
        finally:
            await self.fake.down(False)
        with steps.step("the fake is back up: a poll shows its values"):
            await self.poll()
            await self.values_match()

    async def remove(self, steps: Steps) -> None:
        """Delete the entry; no entry, device or entity of the integration may be left."""
        with steps.step("remove the entry"):
            await self.instance.rest("DELETE", f"/api/config/config_entries/entry/{self.entry_id}")
        with steps.step("nothing is left"):
            await assert_nothing_left(self.instance)


async def journey_without_state(
    service: ServiceUnderTest, instance: Instance, steps: Steps
) -> None:
    """The whole journey while the service sends the browser back without ``state``.

    Every sign-in (adding the account, the reauth) must come back to the integration's own
    callback, without ``state``, and still reach its entry: Home Assistant's callback could not.
    """
    journey = Journey(instance, service)
    with steps.step("the fake drops state from its redirect"):
        await journey.fake.echo_state(False)
    try:
        await journey.run(steps)
    finally:
        await journey.fake.echo_state(True)
    with steps.step("each sign-in came back to the integration's callback without state"):
        if len(journey.callbacks) < 2:
            raise StepFailed(f"expected two sign-ins, saw {journey.callbacks}")
        for callback in journey.callbacks:
            if callback.path != OAUTH2_CALLBACK or "state" in callback.query:
                raise StepFailed(f"the service sent the browser to {callback}")


async def assert_nothing_left(instance: Instance) -> None:
    """No config entry, device, entity or state of the integration remains."""
    async with instance.websocket() as ws:
        devices = await ws.call("config/device_registry/list")
        entities = await ws.call("config/entity_registry/list")
    left = [f"entry {entry['title']}" for entry in await instance.entries()]
    left += [
        f"device {device['name']}"
        for device in devices
        if any(domain == DOMAIN for domain, _ in device["identifiers"])
    ]
    left += [f"entity {entity['entity_id']}" for entity in entities if entity["platform"] == DOMAIN]
    if left:
        raise StepFailed(f"left behind: {', '.join(left)}")


async def remove_all(instance: Instance) -> None:
    """Clean up after a failed scenario: abort the integration's flows, delete its entries."""
    async with instance.websocket() as ws:
        for flow in await ws.call("config_entries/flow/progress"):
            if flow["handler"] == DOMAIN:
                await instance.rest("DELETE", f"{FLOW}/{flow['flow_id']}")
    for entry in await instance.entries():
        await instance.rest("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")
