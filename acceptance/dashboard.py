"""The README's dashboard, pasted into a real Home Assistant and looked at in Chromium.

The YAML is taken from README.md itself (the block after "A dashboard to paste"), its example
statistic ids replaced with this run's, and saved as a new dashboard's configuration, as the
raw configuration editor would. Each statistics-graph card must draw its chart; the screenshot
is the README's picture of it.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from playwright.async_api import Locator, Page, expect
import yaml

from scripts.demo import DOMAIN, REPO_ROOT

from .browser import Camera, chromium_page, log_in
from .home_assistant import Instance
from .rest import remove_all
from .statistics import ImportedAccount, import_histories, statistics_metadata
from .steps import StepFailed, Steps, wait_until

README = REPO_ROOT / "README.md"
PASTE = "**A dashboard to paste**"
"""The README's words just before the dashboard's YAML."""
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXAMPLE_ID = re.compile(rf"^{DOMAIN}:(?P<service>[a-z]+)_(?P<rest>.+)$")
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


def real_id(example: str, accounts: list[ImportedAccount]) -> str:
    """The id in this run of the statistic the README's example id names.

    ``health_trackers:<service>_<example account>_<key>``: the same service and key, this run's
    account (the longest key that ends the id, as account ids may hold ``_``).
    """
    if not (found := EXAMPLE_ID.match(example)):
        raise StepFailed(f"README's dashboard names {example!r}, not a statistic of {DOMAIN}")
    for account in accounts:
        if account.history.service.service != found["service"]:
            continue
        keys = sorted(
            (s for s in account.history.statistics if found["rest"].endswith(f"_{s.key}")),
            key=lambda statistic: len(statistic.key),
        )
        if keys:
            return account.statistic_id(keys[-1])
    raise StepFailed(f"README's dashboard names {example!r}, which no statistic here matches")


def with_real_ids(config: Any, accounts: list[ImportedAccount]) -> Any:
    """``config`` with every statistic id of the integration replaced by this run's."""
    if isinstance(config, dict):
        return {key: with_real_ids(value, accounts) for key, value in config.items()}
    if isinstance(config, list):
        return [with_real_ids(item, accounts) for item in config]
    if isinstance(config, str) and config.startswith(f"{DOMAIN}:"):
        return real_id(config, accounts)
    return config


def statistic_ids(config: Any) -> set[str]:
    """The integration's statistic ids a configuration names."""
    if isinstance(config, dict):
        return set().union(*(statistic_ids(value) for value in config.values()))
    if isinstance(config, list):
        return set().union(*(statistic_ids(item) for item in config))
    return {config} if isinstance(config, str) and config.startswith(f"{DOMAIN}:") else set()


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
        graphs = [
            Graph(card["title"], [listed[statistic]["name"] for statistic in statistic_ids(card)])
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
