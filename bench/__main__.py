"""Measure backfill, catch-up and idle poll of each service in a real Home Assistant; print a table.

``python -m bench --ha 2026.11.0=/path/to/python [-k SERVICE] [--scale FACTOR]``, from the
repository root (``scripts/bench`` does this with the acceptance virtualenv). One Home Assistant
and the fakes run in ``.bench/<version>/`` (its log, the fakes' log), with asyncio's debug mode
on, whose event loop logs every callback that holds it longer than its
``slow_callback_duration`` of 0.1 s ("Executing … took 0.123 seconds").

Per service, one after the other: the fake account's history is replaced by a seeded one, the
account is added through the REST config flow, and the bench waits until the entry's
diagnostics say ``"history": {"state": "done", "records": N}``. Measured meanwhile: the requests
the fake received per endpoint (sign-in left out), the wall time from the flow's start, the peak
resident memory of Home Assistant (``VmHWM``, reset before), and the loop's slow callbacks. An
integration without a backfill (no ``history`` in its diagnostics) has "n/a" there. Then 50 new
records at the fake and one ``homeassistant.update_entity`` (the catch-up), and one more on an
unchanged service (the idle poll). Everything it started stops when it ends, by process id.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math
from pathlib import Path
import re
import signal
import sys
import time
from typing import Any

from acceptance.home_assistant import Instance, Release
from acceptance.logs import LOGGER, Record
from acceptance.rest import FLOW, Journey
from acceptance.services import SERVICES_BY_NAME, Fake, ServiceUnderTest
from acceptance.steps import StepFailed
from custom_components.health_trackers.providers import PROVIDERS
from scripts.demo import DOMAIN, REPO_ROOT

RUN_DIR = REPO_ROOT / ".bench"
YEARS = 10
"""How far back the seeded histories reach."""
NEW_RECORDS = 50
"""Records added at the fake before the catch-up poll."""
HISTORY_SECONDS = 300
"""Longer than this, a backfill is reported as not done."""
POLL_SECONDS = 0.25
"""How often the entry's diagnostics are asked whether the backfill is done."""
QUIET_SECONDS = 1.5
"""A fake whose counts did not change for this long has nothing more coming."""
COOLDOWN_SECONDS = 10.5
"""Home Assistant runs an ``update_entity`` within 10 s of the last one only after those 10 s."""
SLOW_CALLBACK = re.compile(r"^Executing (?P<what>.+) took (?P<seconds>[\d.]+) seconds")
SHOWN_BLOCKS = 3
"""The longest slow callbacks printed per service."""
WIDTH = 160
"""Characters of a slow callback's description printed."""
MB = 1024
"""kB per MB, as /proc counts."""


@dataclass(frozen=True)
class Workload:
    """One service's history and what reading it should cost."""

    service: ServiceUnderTest
    records: int
    details: bool = False
    """Whether each new record costs a detail request (SportTracks: its event needs one)."""

    @property
    def name(self) -> str:
        """The service, as the fakes and the providers name it."""
        return self.service.service

    @property
    def page(self) -> int:
        """The largest page the client reads."""
        page: int = PROVIDERS[self.name].client_type.page_size
        return page

    @property
    def expected_backfill(self) -> int:
        """Requests for the whole history: its pages."""
        return math.ceil(self.records / self.page)

    @property
    def expected_catch_up(self) -> int:
        """Requests for the new records: the poll's small first request, their pages, details."""
        return 1 + math.ceil(NEW_RECORDS / self.page) + (NEW_RECORDS if self.details else 0)


WORKLOADS = (
    Workload(SERVICES_BY_NAME["sporttracks"], 10_000, details=True),
    Workload(SERVICES_BY_NAME["boditrax"], 2_000),
    Workload(SERVICES_BY_NAME["bactrack"], 50_000),
)


@dataclass(frozen=True)
class Block:
    """A callback that held the event loop longer than 100 ms."""

    seconds: float
    what: str

    @property
    def ours(self) -> bool:
        """Whether it names the integration (its code, its tasks)."""
        return DOMAIN in self.what


@dataclass(frozen=True)
class Figures:
    """What one service's run measured."""

    workload: Workload
    history: dict[str, Any] | None
    """The entry's ``history`` diagnostics once done; None without a backfill."""
    requests: Counter[str]
    """Requests per endpoint from adding the account until the backfill was done."""
    seconds: float
    """From the flow's start until the backfill was done (or the entry loaded)."""
    peak_mb: float
    growth_mb: float
    """Peak memory over the resident memory before the account was added."""
    blocks: tuple[Block, ...]
    catch_up: Counter[str]
    catch_up_seconds: float
    idle: Counter[str]
    log: tuple[str, ...]
    """The integration's lines about the history."""


def _memory(pid: int) -> dict[str, int]:
    """``Vm…`` lines of ``/proc/<pid>/status``, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name.startswith("Vm") and value.strip().endswith("kB"):
            fields[name] = int(value.split()[0])
    return fields


def reset_peak(pid: int) -> float:
    """Start the process's peak memory (``VmHWM``) afresh; its resident memory now, in MB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _memory(pid)["VmRSS"] / MB


def peak(pid: int) -> float:
    """The process's peak resident memory since the last reset, in MB."""
    return _memory(pid)["VmHWM"] / MB


def slow_callbacks(records: Iterable[Record]) -> tuple[Block, ...]:
    """The event loop's reports of callbacks that held it too long, longest first."""
    blocks = [
        Block(float(found["seconds"]), found["what"])
        for record in records
        if record.logger == "asyncio" and (found := SLOW_CALLBACK.match(record.message))
    ]
    return tuple(sorted(blocks, key=lambda block: block.seconds, reverse=True))


def data_requests(
    before: dict[str, int], after: dict[str, int], service: ServiceUnderTest
) -> Counter[str]:
    """Requests per endpoint between two counts of the fake, signing in left out."""
    delta = Counter(after)
    delta.subtract(before)
    return Counter(
        {
            endpoint: count
            for endpoint, count in delta.items()
            if count > 0 and endpoint.partition(" ")[2] not in service.sign_in_paths
        }
    )


async def settled(fake: Fake) -> dict[str, int]:
    """The fake's counts once they stop changing: whatever was under way is over."""
    counts = await fake.endpoint_counts()
    while True:
        await asyncio.sleep(QUIET_SECONDS)
        if (again := await fake.endpoint_counts()) == counts:
            return counts
        counts = again


async def backfill(instance: Instance, entry_id: str) -> dict[str, Any] | None:
    """The entry's ``history`` diagnostics once it is done; None if it has none."""
    deadline = time.monotonic() + HISTORY_SECONDS
    while time.monotonic() < deadline:
        diagnostics = await instance.rest("GET", f"/api/diagnostics/config_entry/{entry_id}")
        history: dict[str, Any] | None = diagnostics["data"].get("history")
        if history is None or history.get("state") == "done":
            return history
        await asyncio.sleep(POLL_SECONDS)
    raise StepFailed(f"the backfill is not done after {HISTORY_SECONDS} s")


async def add_account(journey: Journey) -> str:
    """Add the service's account through the REST config flow; its entry id."""
    instance, service = journey.instance, journey.service
    result = await instance.rest("POST", FLOW, {"handler": DOMAIN})
    result = await instance.rest(
        "POST", f"{FLOW}/{result['flow_id']}", {"next_step_id": service.menu_item}
    )
    result = await journey.finish_flow(result)
    if result["type"] != "create_entry":
        raise StepFailed(f"the flow ended with {result}")
    journey.entry_id = str(result["result"]["entry_id"])
    await journey.loaded_entry()
    return journey.entry_id


async def poll(journey: Journey) -> tuple[Counter[str], float]:
    """One ``update_entity`` on the entry: the requests it cost and how long it took."""
    before = await journey.fake.endpoint_counts()
    started = time.monotonic()
    await journey.poll()
    seconds = time.monotonic() - started
    return data_requests(before, await settled(journey.fake), journey.service), seconds


async def measure(instance: Instance, workload: Workload) -> Figures:
    """Seed, add the account, wait for the backfill; then a catch-up and an idle poll."""
    journey = Journey(instance, workload.service)
    fake = journey.fake
    account = await fake.signed_in()
    print(f"  {workload.name}: {await fake.seed_history(account, workload.records, YEARS)}")
    instance.log_reader.read()  # what was logged before is not this service's
    before = await fake.endpoint_counts()
    resident = reset_peak(instance.pid)
    started = time.monotonic()
    entry_id = await add_account(journey)
    history = await backfill(instance, entry_id)
    seconds = time.monotonic() - started
    requests = data_requests(before, await settled(fake), workload.service)
    peak_mb = peak(instance.pid)
    print(f"  {workload.name}: history {history or 'n/a'} after {seconds:.1f} s", flush=True)

    now = datetime.now(UTC)
    for index in range(NEW_RECORDS):  # a minute apart, the last now
        await fake.add_record(account, now - timedelta(minutes=NEW_RECORDS - 1 - index))
    catch_up, catch_up_seconds = await poll(journey)
    await asyncio.sleep(COOLDOWN_SECONDS)
    idle, _ = await poll(journey)
    records = instance.log_reader.read()
    await instance.rest("DELETE", f"/api/config/config_entries/entry/{entry_id}")
    return Figures(
        workload,
        history,
        requests,
        seconds,
        peak_mb,
        peak_mb - resident,
        slow_callbacks(records),
        catch_up,
        catch_up_seconds,
        idle,
        tuple(r.message for r in records if r.logger == LOGGER and "History of" in r.message),
    )


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, numbers to the right."""
    lines = [list(header), *map(list, rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def _read(history: dict[str, Any] | None) -> str:
    """The records the backfill read: its own, and those of the recent window read apart."""
    if history is None:
        return "n/a"
    counts = [history.get("records"), history.get("window_records")]
    return " + ".join(f"{count:,}" for count in counts if isinstance(count, int)) or "?"


def _blocks(blocks: Sequence[Block]) -> str:
    ours = sum(block.ours for block in blocks)
    return f"{len(blocks)} ({ours} ours)" if blocks else "0"


def print_report(figures: Sequence[Figures], version: str) -> None:
    """The table the README keeps, then the catch-up, requests per endpoint and slow callbacks."""
    print(f"\nBackfill on Home Assistant {version} (history over {YEARS} years):")
    backfill_rows = []
    for item in figures:
        done = item.history is not None
        backfill_rows.append(
            [
                item.workload.name,
                f"{item.workload.records:,}",
                _read(item.history),
                f"{item.requests.total():,}" if done else "n/a",
                f"{item.workload.expected_backfill:,}",
                f"{item.seconds:.1f}" if done else "n/a",
                f"{item.peak_mb:.0f}",
                f"{item.growth_mb:+.0f}",
                _blocks(item.blocks),
                f"{item.idle.total()}",
            ]
        )
    print(
        _table(
            [
                "service",
                "records",
                "read",
                "requests",
                "⌈records/page⌉",
                "wall s",
                "peak MB",
                "+MB",
                "loop blocks > 100 ms",
                "idle-poll requests",
            ],
            backfill_rows,
        )
    )
    print(f"\nCatch-up: {NEW_RECORDS} new records, one poll:")
    print(
        _table(
            ["service", "requests", "1 + ⌈new/page⌉ (+ details)", "wall s"],
            [
                [
                    item.workload.name,
                    f"{item.catch_up.total()}",
                    f"{item.workload.expected_catch_up}",
                    f"{item.catch_up_seconds:.1f}",
                ]
                for item in figures
            ],
        )
    )
    print("\nRequests per endpoint (backfill with the first poll | catch-up | idle poll):")
    for item in figures:
        for endpoint in sorted(item.requests | item.catch_up | item.idle):
            print(
                f"  {item.workload.name:<12} {endpoint:<45} "
                f"{item.requests[endpoint]:>6} {item.catch_up[endpoint]:>6} {item.idle[endpoint]:>6}"
            )
    for item in figures:
        for line in item.log:
            print(f"  {item.workload.name}: {line}")
        for block in item.blocks[:SHOWN_BLOCKS]:
            print(
                f"  {item.workload.name}: loop blocked {block.seconds:.3f} s by {block.what[:WIDTH]}"
            )


async def main(release: Release, workloads: Sequence[Workload]) -> int:
    """Run the workloads in one Home Assistant with asyncio's debug mode; print the report."""
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGHUP):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    directory = RUN_DIR / release.version
    print(f"== Home Assistant {release.version} in {directory}", flush=True)
    started = time.monotonic()
    async with Instance(release, directory, env={"PYTHONASYNCIODEBUG": "1"}) as instance:
        print(f"  started in {time.monotonic() - started:.0f} s", flush=True)
        await instance.rest("POST", "/api/services/logger/set_level", {LOGGER: "info"})
        figures = [await measure(instance, workload) for workload in workloads]
    print_report(figures, release.version)
    print(f"\nThe bench took {time.monotonic() - started:.0f} s.")
    return 0


def cli() -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--ha", required=True, metavar="VERSION=PYTHON", help="the release and its interpreter"
    )
    parser.add_argument("-k", dest="only", default="", help="the services whose name has this")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="histories this many times the usual size"
    )
    args = parser.parse_args()
    version, separator, python = args.ha.partition("=")
    if not separator:
        parser.error("--ha takes VERSION=PYTHON")
    workloads = [
        Workload(workload.service, max(1, round(workload.records * args.scale)), workload.details)
        for workload in WORKLOADS
        if args.only in workload.name
    ]
    return asyncio.run(main(Release(version, python), workloads))


if __name__ == "__main__":
    sys.exit(cli())
