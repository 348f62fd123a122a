"""Run the acceptance scenarios on each Home Assistant release; print a table; exit 1 on a failure.

``python -m acceptance --ha 2026.11.0=/path/to/python [--ha ...] [-k TEXT] [--chromium PATH]
[--soak-seconds S] [--soak-seed N] [--readme-screenshots]``,
from the repository root (``scripts/acceptance`` does this with the right virtualenvs). Each
release's run directory, ``.acceptance/<version>/``, keeps Home Assistant's log, the fakes' log
and each scenario's screenshots and error; it is replaced by the next run.

Home Assistant's log must stay clean of the integration (``logs``): after the start, after each
scenario (restarts inside it included) and after the stop, the lines Home Assistant logged
meanwhile are checked, and a line that breaks the rule fails that row of the table.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
import os
from pathlib import Path
import secrets
import shutil
import signal
import sys
import time
import traceback

from scripts.demo import REPO_ROOT

from .blueprints import (
    blueprint_bac_above_threshold,
    blueprint_list,
    blueprint_new_workout,
    blueprint_no_scan_reminder,
    browser_blueprint_list,
)
from .browser import (
    BROWSER_SERVICES,
    browser_activity,
    browser_deny,
    browser_journey,
    browser_linked_account,
    browser_options,
)
from .calendars import browser_calendar
from .dashboard import browser_dashboard, browser_sensor_history
from .home_assistant import Instance, Release
from .logs import Breach, breaches
from .reconfigure import browser_reconfigure_linked, rest_reconfigure
from .rest import REVOKED_LOG, Journey, journey_without_state, remove_all
from .restart import restart_with_the_fakes
from .services import SERVICES, SERVICES_BY_NAME, ServiceUnderTest
from .soak import EXPECTED_LOG, SOAK_SECONDS, soak
from .statistics import statistics_journey
from .steps import Steps
from .writes import blueprint_scan_to_sporttracks, browser_actions

RUN_DIR = REPO_ROOT / ".acceptance"
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
README_SCREENSHOTS = {
    "add-account-menu.png": ("browser sporttracks", "menu"),
    "sporttracks-consent.png": ("browser sporttracks", "consent"),
    "sporttracks-success.png": ("browser sporttracks", "success"),
    "sporttracks-device.png": ("browser sporttracks", "device"),
    "device-activity.png": ("browser device activity", "device-activity"),
    "bactrack-web-api-key.png": ("browser bactrack", "consumer"),
    "bactrack-options.png": ("browser bactrack options", "options-on"),
    "bactrack-device.png": ("browser bactrack options", "device"),
    "boditrax-linked-account.png": ("browser boditrax linked", "linked_account"),
    "boditrax-device.png": ("browser boditrax linked", "device"),
    "access-not-granted.png": ("browser deny", "denied"),
    "statistics-dashboard.png": ("browser statistics dashboard", "dashboard"),
    "sensor-history.png": ("browser statistics history", "sensor-history"),
    "blueprints-list.png": ("browser blueprint list", "blueprints-list"),
    "calendar-panel.png": ("browser calendar", "calendar"),
    "add-workout.png": ("browser actions", "add-workout"),
}
"""The README's screenshots (docs/screenshots/): scenario and shot each comes from."""
SCENARIO_SECONDS = 240
"""A scenario taking longer hangs (the soak: longer, as it lasts); it fails so the others still run."""

ERROR_LINES = 6
"""Lines of an error the table repeats; the scenario's error.txt keeps all of it."""
WHY_WIDTH = 140
"""Characters of a failed row's reason in the table."""
CLEAN_LOG = "clean log"
"""The step of a row that failed only because of the log."""
EVIDENCE = ("error.txt", "clean-log.txt")
"""What a failure leaves in its directory: the error in full, the log records in full."""

Body = Callable[[Instance, Steps], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    """A named journey, run on every release."""

    name: str
    body: Body
    expected_log: tuple[str, ...] = ()
    """Lines about the integration the journey causes on purpose, as regexes (see ``logs``)."""
    seconds: float = SCENARIO_SECONDS
    """Longer than this, it hangs."""


@dataclass(frozen=True)
class Result:
    """How one scenario went on one release."""

    scenario: str
    version: str
    passed: bool
    seconds: float
    step: str = ""
    error: str = ""
    directory: Path | None = None
    log: tuple[Breach, ...] = ()
    """The log records logged meanwhile that break the clean-log rule."""

    @property
    def why(self) -> str:
        """Why it failed, in one line: the failed step, else the first line breaking the rule."""
        if self.step != CLEAN_LOG:
            return f"step '{self.step}': {(self.error.splitlines() or [''])[0]}"
        return self.log[0].short() if self.log else self.error


async def _rest(service: ServiceUnderTest, instance: Instance, steps: Steps) -> None:
    await Journey(instance, service).run(steps)


def scenarios(chromium: str, soak_seconds: float, soak_seed: int) -> list[Scenario]:
    """Every service over the APIs, what a user does in the browser, the blueprints, the soak.

    The REST journey revokes the account's tokens, so the poll that finds out is logged; the
    soak's faults are logged as they begin.
    """
    boditrax = SERVICES_BY_NAME["boditrax"]
    return [
        *(
            Scenario(f"rest {service.name}", partial(_rest, service), expected_log=(REVOKED_LOG,))
            for service in SERVICES
        ),
        Scenario(
            "rest boditrax without state",
            partial(journey_without_state, boditrax),
            expected_log=(REVOKED_LOG,),
        ),
        *(
            Scenario(f"rest reconfigure {service.name}", partial(rest_reconfigure, service))
            for service in SERVICES
        ),
        Scenario("rest statistics", statistics_journey),
        *(
            Scenario(f"browser {service.name}", partial(browser_journey, service, chromium))
            for service in BROWSER_SERVICES
        ),
        Scenario("browser boditrax linked", partial(browser_linked_account, chromium)),
        Scenario(
            "browser reconfigure boditrax linked", partial(browser_reconfigure_linked, chromium)
        ),
        Scenario("browser deny", partial(browser_deny, chromium)),
        Scenario("browser bactrack options", partial(browser_options, chromium)),
        Scenario("browser device activity", partial(browser_activity, chromium)),
        Scenario("browser statistics dashboard", partial(browser_dashboard, chromium)),
        Scenario("browser statistics history", partial(browser_sensor_history, chromium)),
        Scenario("browser calendar", partial(browser_calendar, chromium)),
        Scenario("blueprint list", blueprint_list),
        Scenario("browser blueprint list", partial(browser_blueprint_list, chromium)),
        Scenario("blueprint new workout", blueprint_new_workout),
        Scenario("blueprint bac above threshold", blueprint_bac_above_threshold),
        Scenario("blueprint no scan reminder", blueprint_no_scan_reminder),
        Scenario("blueprint boditrax scan to sporttracks", blueprint_scan_to_sporttracks),
        Scenario("browser actions", partial(browser_actions, chromium)),
        # After the blueprints: the scan it adds to the demo's second Boditrax member (taken now)
        # would end the month without a scan the reminder's scenario needs.
        Scenario("rest restart with the fakes", restart_with_the_fakes),
        Scenario(
            "soak",
            partial(soak, soak_seconds, soak_seed),
            expected_log=EXPECTED_LOG,
            seconds=SCENARIO_SECONDS + 2 * soak_seconds,
        ),
    ]


def _slug(name: str) -> str:
    return name.replace(" ", "-")


def check_log(
    instance: Instance, result: Result, directory: Path, expected: tuple[str, ...] = ()
) -> Result:
    """``result``, failed if Home Assistant logged a line breaking the rule since the last check.

    The lines are printed, and kept in full (tracebacks too) in ``directory``/clean-log.txt.
    """
    found = breaches(instance.log_reader.read(), expected)
    if not found:
        return result
    label = f"{result.version} {result.scenario}"
    print(
        f"  {label}: {len(found)} line(s) of home-assistant.log break the clean-log rule:",
        *(f"    {breach}" for breach in found),
        sep="\n",
        flush=True,
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "clean-log.txt").write_text(
        "".join(f"{breach.reason}:\n{breach.record.text}\n\n" for breach in found)
    )
    error = f"{len(found)} line(s) of home-assistant.log break the clean-log rule"
    return replace(
        result,
        passed=False,
        step=result.step or CLEAN_LOG,
        error=result.error or error,
        directory=result.directory or directory,
        log=tuple(found),
    )


async def run_scenario(instance: Instance, scenario: Scenario) -> Result:
    """Run one scenario; on failure keep its error next to its screenshots and clean up.

    Then check what Home Assistant logged meanwhile against the scenario's expected lines.
    """
    version = instance.release.version
    directory = instance.directory / _slug(scenario.name)
    directory.mkdir(parents=True, exist_ok=True)
    steps = Steps(f"{version} {scenario.name}", directory)
    started = time.monotonic()
    try:
        async with asyncio.timeout(scenario.seconds):
            await scenario.body(instance, steps)
    except Exception as err:
        (directory / "error.txt").write_text(f"step: {steps.current}\n\n{traceback.format_exc()}")
        result = Result(
            scenario.name,
            version,
            passed=False,
            seconds=time.monotonic() - started,
            step=steps.current,
            error=f"{type(err).__name__}: {err}",
            directory=directory,
        )
        await instance.recover()
        await remove_all(instance)
    else:
        result = Result(scenario.name, version, passed=True, seconds=time.monotonic() - started)
    return check_log(instance, result, directory, scenario.expected_log)


async def run_release(release: Release, selected: list[Scenario]) -> list[Result]:
    """Start the fakes and Home Assistant for ``release`` and run ``selected`` on it."""
    directory = RUN_DIR / release.version
    print(f"== Home Assistant {release.version} in {directory}", flush=True)
    results: list[Result] = []
    started = time.monotonic()
    try:
        async with Instance(release, directory) as instance:
            start = Result("start", release.version, True, time.monotonic() - started)
            results.append(check_log(instance, start, directory))
            print(f"  {release.version}: started on {instance.base_url}", flush=True)
            for scenario in selected:
                started = time.monotonic()
                results.append(await run_scenario(instance, scenario))
            started = time.monotonic()
            instance.stop()
            stopped = Result("stop", release.version, True, time.monotonic() - started)
            results.append(check_log(instance, stopped, directory))
    except Exception as err:  # reported in the table; the next release still runs
        name = "recover after a failure" if results else "start"
        error = f"{type(err).__name__}: {err}"
        seconds = time.monotonic() - started
        results.append(Result(name, release.version, False, seconds, name, error, directory))
    return results


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else f"{text[: width - 1]}…"


def print_table(results: list[Result], wall_seconds: float) -> None:
    """Scenario, release, pass/fail, seconds and why a row failed; then each failure's evidence."""
    width = max(len(result.scenario) for result in results)
    print(f"\n{'scenario':<{width}}  {'HA version':<10}  result  seconds  why it failed")
    for result in results:
        outcome = "pass" if result.passed else "FAIL"
        why = "" if result.passed else f"  {_cut(result.why, WHY_WIDTH)}"
        print(
            f"{result.scenario:<{width}}  {result.version:<10}  {outcome:<6}  "
            f"{result.seconds:7.1f}{why}"
        )
    print(f"{'sum':<{width}}  {'':<10}  {'':<6}  {sum(r.seconds for r in results):7.1f}")
    print(f"{'wall clock':<{width}}  {'all':<10}  {'':<6}  {wall_seconds:7.1f}")
    for result in results:
        if not result.passed:
            print(
                f"\nFAILED {result.scenario} on {result.version} at step '{result.step}':\n"
                f"  {'\n  '.join(result.error.splitlines()[:ERROR_LINES])}"
            )
            for breach in result.log:
                print(f"  {breach}")
            kept = [
                name for name in EVIDENCE if result.directory and (result.directory / name).exists()
            ]
            kept.append(f"Home Assistant log: {RUN_DIR / result.version / 'home-assistant.log'}")
            print(f"  kept: {result.directory} ({'; '.join(kept)})")


def copy_readme_screenshots(results: list[Result], version: str) -> None:
    """Replace the README's screenshots with this run's on ``version``, from passed rows only."""
    passed = {result.scenario for result in results if result.version == version and result.passed}
    for name, (scenario, shot) in README_SCREENSHOTS.items():
        found = sorted((RUN_DIR / version / _slug(scenario)).glob(f"[0-9][0-9]-{shot}.png"))
        if scenario not in passed or not found:
            print(f"  README screenshot {name}: not taken ({scenario} did not pass on {version})")
            continue
        shutil.copyfile(found[-1], SCREENSHOTS / name)
        print(f"  README screenshot {name}: from {found[-1].relative_to(REPO_ROOT)}")


def _pair(text: str) -> tuple[str, str]:
    version, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError("expected VERSION=VALUE")
    return version, value


async def main(
    releases: list[Release], selected: list[Scenario], screenshots_from: str | None = None
) -> int:
    """Run the releases at once; SIGTERM and SIGHUP stop what was started, as Ctrl-C does."""
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGHUP):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    RUN_DIR.mkdir(exist_ok=True)
    started = time.monotonic()
    # The releases run side by side: each has its own fakes, port and directory.
    per_release = await asyncio.gather(*(run_release(release, selected) for release in releases))
    results = [result for results in per_release for result in results]
    print_table(results, time.monotonic() - started)
    if screenshots_from is not None:
        copy_readme_screenshots(results, screenshots_from)
    return 0 if all(result.passed for result in results) else 1


def cli() -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="python -m acceptance")
    parser.add_argument(
        "--ha",
        type=_pair,
        action="append",
        required=True,
        metavar="VERSION=PYTHON",
        help="a release to test and its virtualenv's interpreter",
    )
    parser.add_argument(
        "--constraint",
        type=_pair,
        action="append",
        default=[],
        metavar="VERSION=REQUIREMENT",
        help="a pin the release's runtime installs must keep (e.g. 2025.4.4='pycares<5')",
    )
    parser.add_argument(
        "--on", action="append", metavar="VERSION", help="run on these of the releases only"
    )
    parser.add_argument(
        "-k", dest="only", default="", help="run the scenarios whose name contains this"
    )
    parser.add_argument(
        "--chromium", default=os.environ.get("CHROMIUM") or shutil.which("chromium")
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=SOAK_SECONDS,
        help=f"how long records arrive in the soak, at least (default {SOAK_SECONDS:g})",
    )
    parser.add_argument(
        "--soak-seed", type=int, help="the soak's random seed (default: a new one, printed)"
    )
    parser.add_argument(
        "--readme-screenshots",
        action="store_true",
        help="copy the README's screenshots (docs/screenshots/) from the first release's run",
    )
    args = parser.parse_args()
    if args.chromium is None:
        parser.error(
            "no chromium on PATH; install it (apt-get install chromium) or pass --chromium"
        )
    releases = [
        Release(
            version,
            python,
            tuple(pin for pinned, pin in args.constraint if pinned == version),
        )
        for version, python in args.ha
        if args.on is None or version in args.on
    ]
    seed = secrets.randbelow(1_000_000) if args.soak_seed is None else args.soak_seed
    selected = [
        scenario
        for scenario in scenarios(args.chromium, args.soak_seconds, seed)
        if args.only in scenario.name
    ]
    screenshots_from = args.ha[0][0] if args.readme_screenshots else None
    return asyncio.run(main(releases, selected, screenshots_from))


if __name__ == "__main__":
    sys.exit(cli())
