"""Long-term statistics on a real Home Assistant, read back over its websocket API.

Each service's account is added as a user adds it; once its history is imported (the entry's
diagnostics say ``done``), every statistic is read with ``recorder/statistics_during_period``
and compared, hour by hour, with the records the fake holds (its control endpoint lists them):
per UTC hour, a summed statistic's change is the total of its records' values, the others' mean,
min and max are those of their values. What each record is worth is written here, from the
README's table of statistics, not taken from the integration.

A measure (weight, BAC) lives in its sensor's own statistics (the sensor is found in the entity
registry by its unique id, ``<service>_<account>_<key>``); its imported hours are those before
the recorder took over, which compiles the sensor's hours from its states from the hour the
account was added on. A total is an external statistic, ``health_trackers:<service>_<account>_<key>``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math
import re
from typing import Any

import aiohttp

from scripts.demo import DOMAIN

from .home_assistant import Instance
from .logs import LEVELS, LogReader, Record
from .rest import Journey, remove_all
from .services import SERVICES_BY_NAME, Fake, ServiceUnderTest
from .steps import StepFailed, Steps, wait_until

FakeRecord = Mapping[str, Any]
"""A record as the fake holds it: its fields, times in ISO 8601."""
Hourly = dict[datetime, tuple[float, ...]]
"""Per UTC hour: a summed statistic's change, or a statistic's mean, min and max."""

IMPORT_SECONDS = 120
"""How long adding three accounts' histories (a few hundred records) may take."""
RECORDED_SECONDS = 30
"""How long the recorder may take to write what the import handed it."""
READ_SINCE = timedelta(days=11 * 366)
"""Statistics are read from further back than the import reaches (10 years)."""
SHOWN_HOURS = 5
"""Hours of a statistic's difference that a failure lists."""
IMPORT_DONE = re.compile(r"^History of (?P<title>.+): import done: (?P<records>\d+) records in ")
"""The integration's line when an account's history is imported (logged at INFO)."""
RECORDER_LOGGER = "homeassistant.components.recorder"
RECORDER = "recorder"
"""The source of a sensor's own statistics."""
KJ_PER_KCAL = 4.184


@dataclass(frozen=True)
class Statistic:
    """One statistic of an account, and what one record of the fake adds to it."""

    key: str
    """A measure: the end of its sensor's unique id, ``<service>_<account>_<key>``; a total: the
    end of its id, ``health_trackers:<service>_<account>_<key>``."""
    name: str
    """As the README says. A measure: its sensor's name ("Weight", "Last BAC reading"); a
    total: its name after the account's ("SportTracks 16964 All workouts")."""
    unit: str | None
    summed: bool
    value: Callable[[FakeRecord], float | None]
    """In ``unit``; None when the record has no value for it."""


@dataclass(frozen=True)
class ServiceHistory:
    """What a service's records become in long-term statistics."""

    service: ServiceUnderTest
    measured_at: str
    """The field of the fake's record that says when it was measured."""
    statistics: tuple[Statistic, ...]


def _field(name: str, factor: float = 1.0) -> Callable[[FakeRecord], float | None]:
    return lambda record: None if record[name] is None else record[name] * factor


def _metric(name: str, factor: float = 1.0) -> Callable[[FakeRecord], float | None]:
    def value(scan: FakeRecord) -> float | None:
        found = scan["measurements"].get(name)
        return None if found is None else found * factor

    return value


def _share(name: str) -> Callable[[FakeRecord], float | None]:
    """A scan's metric as a percentage of its weight."""

    def value(scan: FakeRecord) -> float | None:
        part, weight = scan["measurements"].get(name), scan["measurements"].get("BodyWeight")
        return None if part is None or not weight else part / weight * 100

    return value


def _one(record: FakeRecord) -> float:
    return 1.0


HISTORIES = (
    ServiceHistory(
        SERVICES_BY_NAME["sporttracks"],
        "start",
        (
            Statistic("workouts", "All workouts", None, True, _one),
            Statistic(
                "workout_distance",
                "Distance of all workouts",
                "km",
                True,
                _field("distance", 1e-3),
            ),
            Statistic(
                "workout_moving_time",
                "Moving time of all workouts",
                "h",
                True,
                _field("duration", 1 / 3600),
            ),
            Statistic(
                "workout_energy",
                "Energy of all workouts",
                "kcal",
                True,
                _field("calories_kj", 1 / KJ_PER_KCAL),
            ),
        ),
    ),
    ServiceHistory(
        SERVICES_BY_NAME["boditrax"],
        "date",
        (
            Statistic("weight", "Weight", "kg", False, _metric("BodyWeight")),
            Statistic("body_fat", "Body fat", "%", False, _share("FatMass")),
            Statistic("muscle_mass", "Muscle mass", "kg", False, _metric("MuscleMass")),
            Statistic("water_mass", "Water mass", "kg", False, _metric("WaterMass")),
            Statistic("bone_mass", "Bone mass", "kg", False, _metric("BoneMass")),
            Statistic(
                "visceral_fat_rating",
                "Visceral fat rating",
                None,
                False,
                _metric("VisceralFatRating"),
            ),
            Statistic(
                "basal_metabolic_rate",
                "Basal metabolic rate",
                "kcal/d",
                False,
                _metric("BasalMetabolicRatekJ", 1 / KJ_PER_KCAL),
            ),
            Statistic("metabolic_age", "Metabolic age", "years", False, _metric("MetabolicAge")),
            Statistic("bmi", "BMI", None, False, _metric("BodyMassIndex")),
            Statistic("boditrax_score", "Boditrax score", None, False, _metric("BoditraxScore")),
        ),
    ),
    ServiceHistory(
        SERVICES_BY_NAME["bactrack"],
        "timestamp",
        (
            Statistic("bac", "Last BAC reading", "%", False, _field("bac")),
            Statistic("readings", "All readings", None, True, _one),
        ),
    ),
)
"""The README's table of statistics, per service."""


@dataclass(frozen=True)
class ImportedAccount:
    """An account added in this run, its history imported."""

    history: ServiceHistory
    fake: Fake
    account: str
    """The account's id at the service (and the fake)."""
    entry_id: str
    title: str
    sensors: Mapping[str, str]
    """Each measure's sensor, by the measure's key: its entity id, from the entity registry."""
    recorder_since: datetime
    """The first hour whose measure statistics are the recorder's: the hour the account was added,
    or an earlier one its sensors had a state in (an earlier scenario added the same account)."""

    @property
    def unique_id(self) -> str:
        """The entry's unique id, ``<service>_<account>``; a sensor's adds ``_<key>``."""
        return f"{self.history.service.service}_{self.account}"

    @property
    def prefix(self) -> str:
        """What its external statistics' ids start with: ``health_trackers:<service>_<account>_``."""
        return f"{DOMAIN}:{self.unique_id}_".lower()

    def external_id(self, statistic: Statistic) -> str:
        """``health_trackers:<service>_<account>_<key>``: a total's id; a measure must not have one."""
        return f"{self.prefix}{statistic.key}"

    def statistic_id(self, statistic: Statistic) -> str:
        """Where the statistic lives: a measure, its sensor's entity id; a total, its external id."""
        return self.external_id(statistic) if statistic.summed else self.sensors[statistic.key]

    def until(self, statistic: Statistic) -> datetime | None:
        """The hour from which the recorder, not the import, writes the statistic; None: never."""
        return None if statistic.summed else self.recorder_since

    def statistic(self, key: str) -> Statistic:
        """The account's statistic ``key``."""
        return next(found for found in self.history.statistics if found.key == key)

    async def records(self) -> list[FakeRecord]:
        """Every record the fake holds for the account."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{self.fake.info['control']}/records", params={"account": self.account}
            ) as answer,
        ):
            answer.raise_for_status()
            return list(await answer.json())


def start_of_hour(at: datetime) -> datetime:
    """The start of the UTC hour ``at`` lies in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_of(text: str) -> datetime:
    """The start of the UTC hour an ISO 8601 time lies in."""
    return start_of_hour(datetime.fromisoformat(text))


def expected_hours(
    records: Iterable[FakeRecord],
    measured_at: str,
    statistic: Statistic,
    until: datetime | None = None,
) -> Hourly:
    """Per hour with a value: the total (summed), else the mean, min and max of the values.

    ``until``: only the hours before it.
    """
    values: dict[datetime, list[float]] = defaultdict(list)
    for record in records:
        if (value := statistic.value(record)) is not None:
            values[hour_of(record[measured_at])].append(value)
    hourly: Hourly
    if statistic.summed:
        hourly = {start: (math.fsum(found),) for start, found in values.items()}
    else:
        hourly = {
            start: (math.fsum(found) / len(found), min(found), max(found))
            for start, found in values.items()
        }
    return before(hourly, until)


def before(hourly: Hourly, until: datetime | None) -> Hourly:
    """The hours before ``until`` (all of them if None)."""
    return {start: values for start, values in hourly.items() if until is None or start < until}


def recorded_hours(
    rows: Iterable[Mapping[str, Any]],
    statistic: Statistic,
    fields: tuple[str, ...] | None = None,
) -> Hourly:
    """The recorder's rows (``statistics_during_period``, start in ms) in the same terms.

    ``fields``: the types to take (default: change for a total; mean, min and max for a measure).
    """
    if fields is None:
        fields = ("change",) if statistic.summed else ("mean", "min", "max")
    return {
        datetime.fromtimestamp(row["start"] / 1000, UTC): tuple(row[name] for name in fields)
        for row in rows
    }


def _same(recorded: tuple[float, ...], expected: tuple[float, ...]) -> bool:
    return all(
        value is not None and math.isclose(value, wanted, rel_tol=1e-9, abs_tol=1e-6)
        for value, wanted in zip(recorded, expected, strict=True)
    )


def _shown(values: tuple[float, ...] | None) -> str:
    return "no row" if values is None else ", ".join(f"{value:.6g}" for value in values)


def difference(statistic_id: str, recorded: Hourly, expected: Hourly) -> str | None:
    """How the recorder's hours differ from the fake's, in a few lines; None if they do not."""
    wrong = sorted(
        start
        for start in recorded.keys() | expected.keys()
        if start not in recorded
        or start not in expected
        or not _same(recorded[start], expected[start])
    )
    if not wrong:
        return None
    lines = [
        f"{statistic_id}: {len(recorded)} hours in the recorder, {len(expected)} at the fake, "
        f"{len(wrong)} differ:"
    ]
    lines += [
        f"  {start:%Y-%m-%d %H:00} UTC: recorder {_shown(recorded.get(start))}; "
        f"fake {_shown(expected.get(start))}"
        for start in wrong[:SHOWN_HOURS]
    ]
    if len(wrong) > SHOWN_HOURS:
        lines.append(f"  … and {len(wrong) - SHOWN_HOURS} more")
    return "\n".join(lines)


async def diagnostics(instance: Instance, entry_id: str) -> dict[str, Any]:
    """The entry's diagnostics, as Download diagnostics gives them."""
    answer = await instance.rest("GET", f"/api/diagnostics/config_entry/{entry_id}")
    return dict(answer["data"])


async def sensors_of(instance: Instance, unique_id: str, history: ServiceHistory) -> dict[str, str]:
    """Each measure's sensor in the entity registry: key → entity id (unique id ``<entry's>_<key>``)."""
    async with instance.websocket() as ws:
        registry = await ws.call("config/entity_registry/list")
    by_unique_id = {
        entity["unique_id"]: entity["entity_id"]
        for entity in registry
        if entity["platform"] == DOMAIN
    }
    sensors = {
        statistic.key: by_unique_id.get(f"{unique_id}_{statistic.key}", "")
        for statistic in history.statistics
        if not statistic.summed
    }
    if missing := sorted(key for key, entity_id in sensors.items() if not entity_id):
        raise StepFailed(f"no sensor of {unique_id} in the entity registry for {missing}")
    if wrong := sorted(
        entity_id for entity_id in sensors.values() if not entity_id.startswith("sensor.")
    ):
        raise StepFailed(f"the measures of {unique_id} are not sensors: {wrong}")
    return sensors


async def first_state(instance: Instance, entity_ids: Iterable[str]) -> datetime | None:
    """When the first of ``entity_ids`` first had a state in this Home Assistant (its recorder)."""
    async with instance.websocket() as ws:
        found = await ws.call(
            "history/history_during_period",
            start_time=(datetime.now(UTC) - READ_SINCE).isoformat(),
            entity_ids=sorted(entity_ids),
            minimal_response=True,
            no_attributes=True,
        )
    times = [
        item[field]
        for states in found.values()
        for item in states
        for field in ("lc", "lu")
        if field in item
    ]
    return datetime.fromtimestamp(min(times), UTC) if times else None


async def import_histories(
    instance: Instance, steps: Steps, histories: Iterable[ServiceHistory] = HISTORIES
) -> list[ImportedAccount]:
    """Add an account of each service; wait until the recorder holds each history as the fake does.

    The import is done when diagnostics say so; the recorder writes what it was handed soon after.
    A measure's hours are compared up to the hour the account was added (the integration imports
    the hours before the hour its entry was set up in, within the add step), or an earlier hour
    its sensors already had a state in, in this Home Assistant: those are the recorder's.
    """
    added = []
    for history in histories:
        journey = Journey(instance, history.service)
        account = await journey.fake.signed_in()
        adding = start_of_hour(datetime.now(UTC))
        entry_id = await journey.add(steps)
        added.append((history, journey.fake, account, entry_id, adding))
    with steps.step("every account's history is imported (diagnostics: done)"):

        async def done() -> bool | None:
            states = {
                entry_id: (await diagnostics(instance, entry_id))["history"]
                for _, _, _, entry_id, _ in added
            }
            if waiting := {key: value for key, value in states.items() if value["state"] != "done"}:
                raise StepFailed(f"not done: {waiting}")
            return True

        await wait_until(done, "every history is imported", IMPORT_SECONDS)
    with steps.step("each measure's sensor, in the entity registry by its unique id"):
        titles = {entry["entry_id"]: entry["title"] for entry in await instance.entries()}
        accounts = []
        for history, fake, account, entry_id, adding in added:
            unique_id = f"{history.service.service}_{account}"
            sensors = await sensors_of(instance, unique_id, history)
            first = await first_state(instance, sensors.values()) if sensors else None
            since = adding if first is None else min(adding, start_of_hour(first))
            accounts.append(
                ImportedAccount(history, fake, account, entry_id, titles[entry_id], sensors, since)
            )
    with steps.step("each statistic is listed with its name, unit and sum or mean"):

        async def as_the_readme_says() -> bool | None:
            if wrong := metadata_mismatches(accounts, await statistics_metadata(instance)):
                raise StepFailed("\n".join(wrong))
            return True

        await wait_until(
            as_the_readme_says, "the statistics are listed as the README says", RECORDED_SECONDS
        )
    with steps.step(
        "each measure is listed once per account: its sensor's, no health_trackers: id"
    ):
        if wrong := measures_listed_twice(accounts, await statistics_list(instance)):
            raise StepFailed("\n".join(wrong))
    with steps.step("every statistic, hour by hour, is what the fake holds"):
        await compare_hours(instance, accounts)
    return accounts


async def statistics_list(instance: Instance) -> list[dict[str, Any]]:
    """Every statistic Home Assistant lists (``recorder/list_statistic_ids``), as it lists them."""
    async with instance.websocket() as ws:
        return list(await ws.call("recorder/list_statistic_ids"))


async def statistics_metadata(instance: Instance) -> dict[str, dict[str, Any]]:
    """Every statistic Home Assistant lists (``recorder/list_statistic_ids``), by id."""
    return {item["statistic_id"]: item for item in await statistics_list(instance)}


def metadata_mismatches(
    accounts: Iterable[ImportedAccount], listed: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Each statistic is listed with its name, unit and sum or mean; none other of its account.

    A measure is its sensor's (source ``recorder``, no name of its own: the sensor's is shown);
    an external statistic for it would be the same history twice.
    """
    wrong = []
    for account in accounts:
        expected_ids = set()
        for statistic in account.history.statistics:
            statistic_id = account.statistic_id(statistic)
            expected_ids.add(statistic_id)
            if not statistic.summed and account.external_id(statistic) in listed:
                wrong.append(
                    f"{account.external_id(statistic)}: an external statistic of the measure "
                    f"{statistic.key}, whose history is its sensor's, {statistic_id}"
                )
            if (found := listed.get(statistic_id)) is None:
                wrong.append(f"{statistic_id} is not listed")
                continue
            expected = {
                "source": DOMAIN if statistic.summed else RECORDER,
                "name": f"{account.title} {statistic.name}" if statistic.summed else None,
                "statistics_unit_of_measurement": statistic.unit,
                "has_sum": statistic.summed,
                "has_mean": not statistic.summed,
                "mean_type": 0 if statistic.summed else 1,  # none, arithmetic
            }
            wrong += [
                f"{statistic_id}: {name} is {found.get(name)!r}, not {value!r}"
                for name, value in expected.items()
                if found.get(name) != value
            ]
        known = expected_ids | {account.external_id(s) for s in account.history.statistics}
        wrong += [
            f"{statistic_id}: not in the README's table"
            for statistic_id in listed
            if statistic_id.startswith(account.prefix) and statistic_id not in known
        ]
    return wrong


def measures_listed_twice(
    accounts: Iterable[ImportedAccount], listed: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Each measure of each account is listed exactly once: its sensor, not an external id too."""
    ids = [item["statistic_id"] for item in listed]
    wrong = []
    for account in accounts:
        for statistic in account.history.statistics:
            if statistic.summed:
                continue
            seen = [
                statistic_id
                for statistic_id in ids
                if statistic_id in (account.statistic_id(statistic), account.external_id(statistic))
            ]
            if seen != [account.statistic_id(statistic)]:
                wrong.append(
                    f"{account.title} {statistic.name}: listed as {seen or 'nothing'}, not once "
                    f"as {account.statistic_id(statistic)}"
                )
    return wrong


async def compare_hours(instance: Instance, accounts: list[ImportedAccount]) -> None:
    """Every statistic of every account, hour by hour, against the fake's records.

    A measure's hours from the recorder's on are left out (``ImportedAccount.recorder_since``).
    """
    since = datetime.now(UTC) - READ_SINCE
    expected: dict[str, Hourly] = {}
    by_id: dict[str, tuple[Statistic, datetime | None]] = {}
    for account in accounts:
        records = await account.records()
        for statistic in account.history.statistics:
            statistic_id = account.statistic_id(statistic)
            until = account.until(statistic)
            by_id[statistic_id] = (statistic, until)
            expected[statistic_id] = expected_hours(
                records, account.history.measured_at, statistic, until
            )

    async def same() -> bool | None:
        async with instance.websocket() as ws:
            rows = await ws.call(
                "recorder/statistics_during_period",
                start_time=since.isoformat(),
                statistic_ids=sorted(expected),
                period="hour",
                types=["change", "mean", "min", "max"],
            )
        differences = []
        for statistic_id, hourly in expected.items():
            statistic, until = by_id[statistic_id]
            recorded = before(recorded_hours(rows.get(statistic_id, []), statistic), until)
            if found := difference(statistic_id, recorded, hourly):
                differences.append(found)
        if differences:
            raise StepFailed("\n".join(differences))
        return True

    await wait_until(same, "the recorder holds the fake's records, hour by hour", RECORDED_SECONDS)


def statistics_warnings(records: Iterable[Record]) -> list[Record]:
    """Warnings and errors of the recorder, or of anyone about statistics."""
    return [
        record
        for record in records
        if record.level in LEVELS
        and (record.logger.startswith(RECORDER_LOGGER) or "statistic" in record.message.lower())
    ]


async def set_log_level(instance: Instance, level: str) -> None:
    """The integration's log level until Home Assistant stops (as Settings → Logs sets it)."""
    async with instance.websocket() as ws:
        await ws.call(
            "logger/integration_log_level", integration=DOMAIN, level=level, persistence="none"
        )


async def statistics_journey(instance: Instance, steps: Steps) -> None:
    """Each service's whole history in long-term statistics, as the fake holds it.

    The integration logs at INFO meanwhile, so its "import done" lines give each import's count
    and time; nothing about statistics may be logged as a warning (2026.11's recorder warns
    about metadata without ``mean_type`` or ``unit_class``; 2025.4.4 knows no ``unit_class``).
    """
    log = Logged(LogReader(instance.log))
    with steps.step("the integration logs at INFO"):
        await set_log_level(instance, "INFO")
    accounts = await import_histories(instance, steps)
    with steps.step("each import counted every record of the fake, as its log line says"):
        for line in await check_counts(instance, accounts, log):
            print(f"  {steps.label}: {line}", flush=True)
    with steps.step("no warning about statistics in the log"):
        if warned := statistics_warnings(log.read()):
            raise StepFailed("\n".join(str(record) for record in warned))
    with steps.step("the integration logs as before"):
        await set_log_level(instance, "NOTSET")
    with steps.step("remove the accounts; their statistics stay"):
        await remove_all(instance)
        listed = await statistics_metadata(instance)
        if gone := [
            statistic_id
            for account in accounts
            for statistic in account.history.statistics
            if (statistic_id := account.statistic_id(statistic)) not in listed
        ]:
            raise StepFailed(f"removing the accounts deleted {gone}")


class Logged:
    """Every log record Home Assistant wrote since this was made."""

    def __init__(self, reader: LogReader) -> None:
        """Start at the end of the log as it is now."""
        self._reader = reader
        reader.read()
        self._records: list[Record] = []

    def read(self) -> list[Record]:
        """All of them, up to the last complete line."""
        self._records += self._reader.read()
        return self._records


async def check_counts(
    instance: Instance, accounts: list[ImportedAccount], log: Logged
) -> list[str]:
    """Backfill and window hold every record once; each "import done" line says as many.

    Returns those lines: how many records each import took, and how long.
    """
    for account in accounts:
        history = (await diagnostics(instance, account.entry_id))["history"]
        held = len(await account.records())
        if history["records"] + history["window_records"] != held:
            raise StepFailed(
                f"{account.title}: {history['records']} records imported and "
                f"{history['window_records']} in the window; the fake holds {held}"
            )

    async def lines() -> dict[str, re.Match[str]] | None:
        done = {
            found["title"]: found
            for record in log.read()
            if (found := IMPORT_DONE.match(record.message))
        }
        if missing := [account.title for account in accounts if account.title not in done]:
            raise StepFailed(f"no 'History of …: import done' line of {', '.join(missing)}")
        return done

    done = await wait_until(lines, "the log says each import is done")
    for account in accounts:
        imported = (await diagnostics(instance, account.entry_id))["history"]["records"]
        if int(done[account.title]["records"]) != imported:
            raise StepFailed(
                f"the log says {done[account.title].string!r}; diagnostics, {imported}"
            )
    return [done[account.title].string for account in accounts]
