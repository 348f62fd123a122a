"""Long-term statistics in Chromium: the README's dashboard, and a sensor's History panel.

The YAML is taken from README.md itself (the block after "A dashboard to paste"), its example
ids replaced with this run's (a measure's sensor, a total's external statistic), and saved as a
new dashboard's configuration, as the raw configuration editor would. Each statistics-graph
card must draw its chart; the screenshot is the README's picture of it.

The History panel, opened for the Boditrax weight sensor over the last 400 days, must fetch the
sensor's imported hours (as the fake holds them) and draw its line across the range; its
screenshot is the README's picture of a sensor's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
import json
import re
from typing import Any, NamedTuple
from urllib.parse import urlencode

from playwright.async_api import Locator, Page, WebSocket, expect
import yaml

from scripts.demo import DOMAIN, REPO_ROOT

from .browser import Camera, chromium_page, log_in
from .home_assistant import Instance
from .rest import remove_all
from .statistics import (
    HISTORIES,
    Hourly,
    ImportedAccount,
    Statistic,
    before,
    difference,
    expected_hours,
    import_histories,
    recorded_hours,
    statistics_metadata,
)
from .steps import StepFailed, Steps, wait_until

README = REPO_ROOT / "README.md"
PASTE = "**A dashboard to paste**"
"""The README's words just before the dashboard's YAML."""
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXAMPLE_ID = re.compile(rf"^{DOMAIN}:(?P<service>[a-z]+)_(?P<rest>.+)$")
"""An example total: ``health_trackers:<service>_<account>_<key>``."""
EXAMPLE_SENSOR = re.compile(r"^sensor\.(?P<object_id>[a-z0-9_]+)$")
"""An example measure: its sensor, ``sensor.<device>_<sensor's name>``."""
DASHBOARD = {"url_path": "health-history", "title": "Health history", "icon": "mdi:chart-line"}
"""The dashboard the scenario creates (a dashboard's path needs a hyphen)."""
CARD = "hui-statistics-graph-card"
DRAWN_SHARE = 0.01
"""The share of a chart's canvas that must be painted: axes, lines or bars, not a blank card."""
DRAW_SECONDS = 30
"""How long a chart may take to load its statistics and finish drawing."""
MARGIN = 8
"""Pixels of the page the screenshot keeps below the cards."""


class Graph(NamedTuple):
    """A statistics-graph card: its title and the names of the statistics it graphs."""

    title: str
    names: list[str]


def readme_dashboard() -> dict[str, Any]:
    """The dashboard configuration the README tells a user to paste."""
    text = README.read_text(encoding="utf-8")
    if (start := text.find(PASTE)) < 0 or not (block := YAML_BLOCK.search(text, start)):
        raise StepFailed(f"README.md has no YAML block after {PASTE!r}")
    config = yaml.safe_load(block[1])
    if not isinstance(config, dict) or not config.get("views"):
        raise StepFailed(f"README's dashboard is not a dashboard with views: {config!r}")
    return config


def slug(name: str) -> str:
    """A name as an entity id spells it: "Last BAC reading" → ``last_bac_reading``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def real_sensor(example: str, object_id: str, accounts: list[ImportedAccount]) -> str:
    """The sensor in this run of the measure the README's example sensor shows.

    ``sensor.<device>_<sensor's name>``: the measure whose sensor's name ends the example (the
    longest such), its sensor in this run as the entity registry lists it.
    """
    found = sorted(
        (
            (len(slug(statistic.name)), account, statistic)
            for account in accounts
            for statistic in account.history.statistics
            if not statistic.summed and f"_{object_id}".endswith(f"_{slug(statistic.name)}")
        ),
        key=lambda candidate: candidate[0],
    )
    if not found:
        raise StepFailed(f"README's dashboard names {example!r}, which no measure's sensor matches")
    if len(found) > 1 and found[-1][0] == found[-2][0]:
        raise StepFailed(f"README's dashboard names {example!r}, which several sensors match")
    _, account, statistic = found[-1]
    return account.statistic_id(statistic)


def real_id(example: str, accounts: list[ImportedAccount]) -> str:
    """The id in this run of the statistic the README's example id names.

    A sensor: see ``real_sensor``. ``health_trackers:<service>_<example account>_<key>``: the same
    service and key, this run's account (the longest key that ends the id, as account ids may
    hold ``_``).
    """
    if sensor := EXAMPLE_SENSOR.match(example):
        return real_sensor(example, sensor["object_id"], accounts)
    if not (found := EXAMPLE_ID.match(example)):
        raise StepFailed(f"README's dashboard names {example!r}, not a statistic of {DOMAIN}")
    for account in accounts:
        if account.history.service.service != found["service"]:
            continue
        keys = sorted(
            (
                s
                for s in account.history.statistics
                if s.summed and found["rest"].endswith(f"_{s.key}")
            ),
            key=lambda statistic: len(statistic.key),
        )
        if keys:
            return account.statistic_id(keys[-1])
    raise StepFailed(f"README's dashboard names {example!r}, which no statistic here matches")


def named(text: object) -> bool:
    """Whether ``text`` names a statistic of the integration: a total's id or a sensor."""
    return isinstance(text, str) and (
        text.startswith(f"{DOMAIN}:") or EXAMPLE_SENSOR.match(text) is not None
    )


def with_real_ids(config: Any, accounts: list[ImportedAccount]) -> Any:
    """``config`` with every statistic id and sensor of the integration replaced by this run's."""
    if isinstance(config, dict):
        return {key: with_real_ids(value, accounts) for key, value in config.items()}
    if isinstance(config, list):
        return [with_real_ids(item, accounts) for item in config]
    if named(config):
        return real_id(config, accounts)
    return config


def statistic_ids(config: Any) -> set[str]:
    """The statistic ids and sensors a configuration names."""
    if isinstance(config, dict):
        return set().union(*(statistic_ids(value) for value in config.values()))
    if isinstance(config, list):
        return set().union(*(statistic_ids(item) for item in config))
    return {config} if named(config) else set()


async def friendly_names(instance: Instance) -> dict[str, str]:
    """Every entity's name as the frontend shows it (the device's name, then the sensor's)."""
    return {
        state["entity_id"]: str(state["attributes"].get("friendly_name", state["entity_id"]))
        for state in await instance.rest("GET", "/api/states")
    }


async def painted_share(canvas: Locator) -> float:
    """The share of a canvas's pixels that are not transparent."""
    share = await canvas.evaluate(
        """canvas => {
            if (!canvas.width || !canvas.height) return 0;
            const pixels = canvas.getContext("2d").getImageData(
                0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let alpha = 3; alpha < pixels.length; alpha += 4) if (pixels[alpha]) painted++;
            return painted / (canvas.width * canvas.height);
        }"""
    )
    return float(share)


async def chart_drawn(card: Locator, title: str) -> None:
    """Wait until the card's chart is painted and has stopped changing (its animation is over)."""
    seen: list[list[str]] = []

    async def settled() -> bool | None:
        canvases = await card.locator("canvas").all()
        if not canvases:
            raise StepFailed("no chart yet")
        share = max([await painted_share(canvas) for canvas in canvases])
        if share < DRAWN_SHARE:
            raise StepFailed(f"{share:.2%} of the chart painted")
        images = [await canvas.evaluate("canvas => canvas.toDataURL()") for canvas in canvases]
        if not seen or seen[-1] != images:
            seen.append(images)
            raise StepFailed("the chart is still being drawn")
        return True

    await wait_until(settled, f"the chart of {title!r}", DRAW_SECONDS)


async def charts_drawn(page: Page, graphs: list[Graph]) -> None:
    """A card per graph, with its title and its statistics' names, its chart drawn; no warning.

    Cards are found by title: the dashboard lays them out in columns, not in the YAML's order.
    """
    cards = page.locator(CARD)
    await expect(cards).to_have_count(len(graphs))
    for title, names in graphs:
        card = cards.filter(has_text=title)
        await expect(card).to_have_count(1)
        for text in names:
            await expect(card).to_contain_text(text)
        await chart_drawn(card, title)
        await expect(card.locator("hui-warning, ha-alert")).to_have_count(0)


async def browser_dashboard(chromium: str, instance: Instance, steps: Steps) -> None:
    """The README's dashboard over every service's imported history, in Chromium."""
    accounts = await import_histories(instance, steps)
    with steps.step("the README's dashboard, with this run's statistic ids"):
        config = with_real_ids(readme_dashboard(), accounts)
        listed = await statistics_metadata(instance)
        if unknown := statistic_ids(config) - listed.keys():
            raise StepFailed(f"the dashboard names statistics Home Assistant lacks: {unknown}")
        # A sensor's statistics have no name of their own: the card shows the sensor's.
        names = await friendly_names(instance)
        graphs = [
            Graph(
                card["title"],
                [
                    listed[statistic]["name"] or names[statistic]
                    for statistic in statistic_ids(card)
                ],
            )
            for view in config["views"]
            for card in view.get("cards", [])
            if card.get("type") == "statistics-graph"
        ]
    with steps.step("a new dashboard holds it (as the raw configuration editor saves it)"):
        async with instance.websocket() as ws:
            created = await ws.call("lovelace/dashboards/create", **DASHBOARD)
            await ws.call("lovelace/config/save", url_path=DASHBOARD["url_path"], config=config)
    async with chromium_page(chromium, steps) as (_, page, camera):
        await log_in(page, instance, steps, camera)
        await show_dashboard(page, instance, steps, camera, graphs)
    with steps.step("delete the dashboard and the accounts"):
        async with instance.websocket() as ws:
            await ws.call("lovelace/dashboards/delete", dashboard_id=created["id"])
        await remove_all(instance)


async def show_dashboard(
    page: Page, instance: Instance, steps: Steps, camera: Camera, graphs: list[Graph]
) -> None:
    """Open the dashboard; every chart is drawn before the screenshot (down to the cards' end)."""
    with steps.step("open the dashboard; every statistics graph draws its chart"):
        await page.goto(f"{instance.base_url}/{DASHBOARD['url_path']}/0")
        await charts_drawn(page, graphs)
        boxes = [await card.bounding_box() for card in await page.locator(CARD).all()]
        bottom = max(box["y"] + box["height"] for box in boxes if box is not None)
        await camera.shoot(page, "dashboard", height=bottom + MARGIN)


HISTORY_SERVICE = "boditrax"
HISTORY_KEY = "weight"
"""The sensor whose history the panel shows: the Boditrax account's weight."""
HISTORY_DAYS = 400
"""The range the panel is opened for, ending now: over a year of the fake's scans."""
HISTORY_REACH = timedelta(days=300)
"""The fake's scans in the range must reach at least this far back: the panel shows years."""
HISTORY_CHART = "state-history-chart-line"
"""The History panel's chart of a sensor with a unit (echarts, on a canvas)."""
FETCH_SLACK = timedelta(hours=2)
"""How far the panel's request may start from the range's start (2026.11 asks an hour more)."""
ACROSS_SHARE = 0.75
"""The share of the chart's width its coloured line must span (axes and grid are grey)."""


class PageSocket:
    """What the page asked Home Assistant over its websockets, and the results it got back.

    Home Assistant may send several messages in one frame (a JSON array: coalesced messages).
    """

    def __init__(self, page: Page) -> None:
        """Listen from now on: every websocket the page opens, every frame either way."""
        self._sockets: list[tuple[dict[int, dict[str, Any]], dict[int, Any]]] = []
        page.on("websocket", self._opened)

    def _opened(self, socket: WebSocket) -> None:
        sent: dict[int, dict[str, Any]] = {}
        results: dict[int, Any] = {}
        self._sockets.append((sent, results))

        def on_sent(payload: str | bytes) -> None:
            for message in _messages(payload):
                if isinstance(message.get("id"), int):
                    sent[message["id"]] = message

        def on_received(payload: str | bytes) -> None:
            for message in _messages(payload):
                if message.get("type") == "result" and message.get("success"):
                    results[message["id"]] = message.get("result")

        socket.on("framesent", on_sent)
        socket.on("framereceived", on_received)

    def statistics(self, statistic_id: str) -> tuple[dict[str, Any], list[Any]] | None:
        """The last ``recorder/statistics_during_period`` asked for ``statistic_id`` and answered.

        The request, and the rows of ``statistic_id`` the answer held.
        """
        for sent, results in reversed(self._sockets):
            for message_id, message in sorted(sent.items(), reverse=True):
                if (
                    message.get("type") == "recorder/statistics_during_period"
                    and statistic_id in message.get("statistic_ids", ())
                    and message_id in results
                ):
                    return message, list((results[message_id] or {}).get(statistic_id, []))
        return None


def _messages(payload: str | bytes) -> list[dict[str, Any]]:
    """The JSON messages of one websocket frame (one, or several coalesced); none if not JSON."""
    try:
        found = json.loads(payload)
    except ValueError:
        return []
    items = found if isinstance(found, list) else [found]
    return [item for item in items if isinstance(item, dict)]


async def coloured_extent(canvas: Locator) -> float:
    """The share of a canvas's width between its leftmost and rightmost coloured pixel.

    Coloured: opaque and far from grey, as a series' line is and axes, grid and labels are not.
    """
    share = await canvas.evaluate(
        """canvas => {
            if (!canvas.width || !canvas.height) return 0;
            const pixels = canvas.getContext("2d").getImageData(
                0, 0, canvas.width, canvas.height).data;
            let first = -1, last = -1;
            for (let at = 0; at < pixels.length; at += 4) {
                const [r, g, b, a] = pixels.slice(at, at + 4);
                if (a < 128 || Math.max(r, g, b) - Math.min(r, g, b) < 64) continue;
                const x = (at / 4) % canvas.width;
                if (first < 0 || x < first) first = x;
                if (x > last) last = x;
            }
            return first < 0 ? 0 : (last - first + 1) / canvas.width;
        }"""
    )
    return float(share)


def panel_mismatch(
    request: Mapping[str, Any],
    rows: Iterable[Mapping[str, Any]],
    statistic: Statistic,
    expected: Hourly,
    until: datetime,
) -> str | None:
    """How the hours the panel fetched differ from the fake's scans in its range (means only)."""
    start = datetime.fromisoformat(request["start_time"])
    wanted = {hour: values[:1] for hour, values in expected.items() if hour >= start}
    got = before(recorded_hours(rows, statistic, ("mean",)), until)
    return difference(f"the panel's {request['statistic_ids']}", got, wanted)


async def browser_sensor_history(chromium: str, instance: Instance, steps: Steps) -> None:
    """The History panel of the Boditrax weight sensor over 400 days: the imported year, drawn."""
    history = next(found for found in HISTORIES if found.service.service == HISTORY_SERVICE)
    (account,) = await import_histories(instance, steps, (history,))
    statistic = account.statistic(HISTORY_KEY)
    sensor = account.statistic_id(statistic)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=HISTORY_DAYS)
    with steps.step(f"the fake's scans reach back over {HISTORY_REACH.days} days"):
        expected = {
            hour: values
            for hour, values in expected_hours(
                await account.records(),
                history.measured_at,
                statistic,
                account.recorder_since,
            ).items()
            if hour >= start - FETCH_SLACK
        }
        if not expected or end - min(expected) < HISTORY_REACH:
            raise StepFailed(f"the fake's scans in the range: {sorted(expected)[:1]} and later")
    async with chromium_page(chromium, steps) as (_, page, camera):
        socket = PageSocket(page)
        await log_in(page, instance, steps, camera)
        with steps.step(f"open the History panel: {sensor}, the last {HISTORY_DAYS} days"):
            query = urlencode(
                {"entity_id": sensor, "start_date": start.isoformat(), "end_date": end.isoformat()}
            )
            await page.goto(f"{instance.base_url}/history?{query}")
        with steps.step("the panel fetched the range's hourly statistics, as the fake holds them"):

            async def fetched() -> tuple[dict[str, Any], list[Any]] | None:
                if (found := socket.statistics(sensor)) is None:
                    raise StepFailed(f"no recorder/statistics_during_period of {sensor} yet")
                request, rows = found
                asked = datetime.fromisoformat(request["start_time"])
                if abs(asked - start) > FETCH_SLACK:
                    raise StepFailed(f"the panel asked from {asked}, not from {start}")
                if wrong := panel_mismatch(
                    request, rows, statistic, expected, account.recorder_since
                ):
                    raise StepFailed(wrong)
                return found

            request, rows = await wait_until(fetched, "the panel's statistics")
            oldest = datetime.fromtimestamp(min(row["start"] for row in rows) / 1000, UTC)
            print(
                f"  {steps.label}: the panel asked from {request['start_time']}; "
                f"{len(rows)} hours, from {oldest:%Y-%m-%d %H:00} UTC",
                flush=True,
            )
        with steps.step("the chart draws the sensor's line across the range"):
            chart = page.locator(HISTORY_CHART)
            await expect(chart).to_have_count(1)
            await chart_drawn(chart, "the History panel")
            extent = max(
                [await coloured_extent(canvas) for canvas in await chart.locator("canvas").all()]
            )
            if extent < ACROSS_SHARE:
                raise StepFailed(
                    f"the line spans {extent:.0%} of the chart, not {ACROSS_SHARE:.0%}"
                )
            print(f"  {steps.label}: the line spans {extent:.0%} of the chart", flush=True)
            await camera.shoot(page, "sensor-history")
    with steps.step("remove the account"):
        await remove_all(instance)
