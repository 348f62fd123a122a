"""Boditrax: the body composition of a member's latest scan, and a gym's statistics, as sensors.

A member's idle poll asks for the newest scan only. Each metric keeps its newest known value, so a
scan that lacks one (a scale without segmental analysis, say) does not blank the sensor; the
sensor then says when its value was measured. The first poll after a start reads the last scans,
so metrics the newest scan lacks still have a value.

A facility is a second provider of the same service: the gym's application credential signs in
as the app itself (client credentials), and each poll reads the facility's statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import re
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import PERCENTAGE, UnitOfMass

from ..clients.base import Cursor, RecordsSince
from ..clients.boditrax import (
    MEMBER_SCOPE,
    READ_SCOPE,
    BoditraxClient,
    BoditraxFacilityClient,
    FacilityStatistics,
    Scan,
    ScanCounts,
)
from .base import (
    KJ_PER_KCAL,
    MIN_EVENT,
    AccountTracker,
    CalendarItem,
    HealthTrackersSensorDescription,
    HealthTrackersStatisticDescription,
    OAuth2Settings,
    Polled,
    Provider,
    RecordField,
    RecordTracker,
    describe_calendar,
    describe_event,
    describe_sensor,
    describe_statistic,
    shown,
    summary,
)

BACKFILL = 20
"""Scans the first poll reads, for metrics the newest scan lacks."""
SEGMENTAL = tuple(
    f"{part}{kind}Mass"
    for part in ("Trunk", "LeftArm", "RightArm", "LeftLeg", "RightLeg")
    for kind in ("Muscle", "Fat")
)
"""Masses of body parts, from machines with segmental analysis (sensors disabled by default)."""
WEIGHT = "BodyWeight"
Metrics = Mapping[str, float]
"""Boditrax's metrics by its export names: a scan's, or the newest known value of each."""


@dataclass(frozen=True, kw_only=True)
class Measure:
    """A body-composition value in the one unit it has everywhere (sensor, event, statistic)."""

    metrics: tuple[str, ...]
    """The Boditrax metrics it is computed from."""
    value_fn: Callable[[Metrics], float | None]
    unit: str | None
    precision: int
    """Decimals shown; states and event data keep one more."""
    device_class: SensorDeviceClass | None = None


def _mass(metric: str) -> Measure:
    return Measure(
        metrics=(metric,),
        value_fn=lambda metrics: metrics.get(metric),
        unit=UnitOfMass.KILOGRAMS,
        precision=1,
        device_class=SensorDeviceClass.WEIGHT,
    )


def _as_sent(metric: str, unit: str | None, precision: int) -> Measure:
    """A metric as Boditrax sends it; one shown without decimals is a whole number.

    A rating, an age, a score: event data and states read "51 years", not "51.0".
    """

    def value(metrics: Metrics) -> float | None:
        found = metrics.get(metric)
        return round(found) if found is not None and precision == 0 else found

    return Measure(metrics=(metric,), value_fn=value, unit=unit, precision=precision)


def _share(metric: str) -> Measure:
    """``metric`` as a percentage of the body weight."""

    def value(metrics: Metrics) -> float | None:
        weight, part = metrics.get(WEIGHT), metrics.get(metric)
        return part / weight * 100 if weight and weight > 0 and part is not None else None

    return Measure(metrics=(metric, WEIGHT), value_fn=value, unit=PERCENTAGE, precision=1)


def _kcal_per_day(metrics: Metrics) -> float | None:
    bmr = metrics.get("BasalMetabolicRatekJ")
    return None if bmr is None else bmr / KJ_PER_KCAL


MEASURES: dict[str, Measure] = {
    "weight": _mass(WEIGHT),
    "body_fat": _share("FatMass"),
    "fat_mass": _mass("FatMass"),
    "muscle_mass": _mass("MuscleMass"),
    "water_mass": _mass("WaterMass"),
    "water_percentage": _share("WaterMass"),
    "bone_mass": _mass("BoneMass"),
    "fat_free_mass": _mass("FatFreeMass"),
    "visceral_fat_rating": _as_sent("VisceralFatRating", None, 0),
    "metabolic_age": _as_sent("MetabolicAge", "years", 0),
    "basal_metabolic_rate": Measure(
        metrics=("BasalMetabolicRatekJ",), value_fn=_kcal_per_day, unit="kcal/d", precision=0
    ),
    "bmi": _as_sent("BodyMassIndex", None, 1),
    "boditrax_score": _as_sent("BoditraxScore", None, 0),
    "phase_angle": _as_sent("PhaseAngle", "°", 1),
    **{re.sub(r"(?<!^)(?=[A-Z])", "_", metric).lower(): _mass(metric) for metric in SEGMENTAL},
}
"""Every value of a scan Health Trackers shows, by key (the sensor's, the event data's)."""


@dataclass(frozen=True)
class Known:
    """A metric's newest known value and the scan it comes from."""

    value: float
    measured_at: datetime


@dataclass(frozen=True)
class BoditraxSnapshot:
    """The newest scan's time and every metric's newest known value, by Boditrax's name."""

    scan_time: datetime | None = None
    known: dict[str, Known] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, float]:
        """The newest known value of each metric."""
        return {metric: known.value for metric, known in self.known.items()}

    def measured_at(self, *metrics: str) -> datetime | None:
        """When the oldest of ``metrics`` was measured, if before the newest scan."""
        times = [self.known[metric].measured_at for metric in metrics if metric in self.known]
        if not times or self.scan_time is None or min(times) >= self.scan_time:
            return None
        return min(times)


class BoditraxTracker(RecordTracker[BoditraxClient, BoditraxSnapshot]):
    """Remembers the newest scan and the newest value of every metric."""

    probe = 1
    start_page = BACKFILL

    def __init__(self, client: BoditraxClient, account: str) -> None:
        """Nothing known yet."""
        super().__init__(client, account)
        self._newest: Scan | None = None
        self._known: dict[str, Known] = {}
        """By Boditrax's metric name."""

    async def _async_keep(self, found: RecordsSince[Scan, Scan]) -> BoditraxSnapshot:
        """Each metric's newest value, and the newest scan as listed now.

        The newest may be an edited scan, or an older one once the newest was deleted.
        """
        known = self._known
        for scan in reversed(found.listed):  # oldest first: newer values win
            for metric, value in scan.metrics.items():
                if metric not in known or known[metric].measured_at <= scan.date:
                    known[metric] = Known(value, scan.date)
        if found.listed:
            self._newest = found.listed[0]
        if self._newest is None:
            return BoditraxSnapshot()
        return BoditraxSnapshot(self._newest.date, dict(known))


def _sensor(key: str, **kwargs: Any) -> HealthTrackersSensorDescription[BoditraxSnapshot]:
    """The measure ``key`` of each metric's newest value; says when, if older than the scan."""
    measure = MEASURES[key]
    return describe_sensor(
        key,
        lambda snapshot: measure.value_fn(snapshot.values),
        measured_at_fn=lambda snapshot: snapshot.measured_at(*measure.metrics),
        state_class=SensorStateClass.MEASUREMENT,
        device_class=measure.device_class,
        native_unit_of_measurement=measure.unit,
        suggested_display_precision=measure.precision,
        **kwargs,
    )


SEGMENTAL_KEYS = tuple(key for key, measure in MEASURES.items() if measure.metrics[0] in SEGMENTAL)

SENSORS: tuple[HealthTrackersSensorDescription[BoditraxSnapshot], ...] = (
    *(_sensor(key) for key in MEASURES if key not in SEGMENTAL_KEYS),
    describe_sensor(
        "scan_time",
        lambda snapshot: snapshot.scan_time,
        device_class=SensorDeviceClass.TIMESTAMP,
    ),
    *(_sensor(key, entity_registry_enabled_default=False) for key in SEGMENTAL_KEYS),
)


def _field(key: str) -> RecordField[Scan]:
    """The measure ``key`` of a scan; None where the scan lacks a metric of it."""
    measure = MEASURES[key]
    return RecordField(
        key, lambda scan: measure.value_fn(scan.metrics), digits=measure.precision + 1
    )


RECORD_FIELDS: tuple[RecordField[Scan], ...] = tuple(_field(key) for key in MEASURES)
"""Every measure of the scan (kg, %, kcal/d, …)."""


def _statistic(key: str) -> HealthTrackersStatisticDescription[Scan]:
    """The measure ``key`` of each scan, hour by hour (mean, min, max), named as its sensor."""
    measure = MEASURES[key]
    return describe_statistic(key, lambda scan: measure.value_fn(scan.metrics), measure.unit)


STATISTICS: tuple[HealthTrackersStatisticDescription[Scan], ...] = tuple(
    _statistic(key)
    for key in (
        "weight",
        "body_fat",
        "muscle_mass",
        "water_mass",
        "bone_mass",
        "visceral_fat_rating",
        "basal_metabolic_rate",
        "metabolic_age",
        "bmi",
        "boditrax_score",
    )
)


def _summary(scan: Scan) -> str:
    """Weight and body fat, those the scan has: 84.7 kg · 21.1 %."""
    weight, fat = (MEASURES[key].value_fn(scan.metrics) for key in ("weight", "body_fat"))
    return summary(
        shown(weight, "{:.1f} kg"),
        shown(fat, "{:.1f} %"),
    )


def _scans(listed: Sequence[Scan]) -> list[CalendarItem]:
    """Each scan at its time, with its weight and body fat; the rest in its description."""
    return [
        CalendarItem(
            uid=scan.id,
            start=scan.date,
            end=scan.date + MIN_EVENT,
            summary=_summary(scan),
            description=_details(scan),
        )
        for scan in listed
    ]


def _details(scan: Scan) -> str | None:
    """Every other measure a sensor shows by default, one a line: "Muscle mass: 35.2 kg"."""
    lines = []
    for key, measure in MEASURES.items():
        if key in ("weight", "body_fat", *SEGMENTAL_KEYS):
            continue
        if (value := measure.value_fn(scan.metrics)) is not None:
            unit = f" {measure.unit}" if measure.unit else ""
            lines.append(f"{{name_{key}}}: {value:.{measure.precision}f}{unit}")
    return "\n".join(lines) or None


OAUTH2 = OAuth2Settings(
    authorize_path="/oauth/auth",
    token_path="/oauth/token",
    token_encoding="form",
    scopes=(READ_SCOPE, MEMBER_SCOPE),
    token_lifetime=timedelta(seconds=1800),
    linked_accounts=True,
    may_drop_state=True,
)

BODITRAX = Provider(
    service="boditrax",
    name="Boditrax",
    default_origin="https://api.boditrax.com",
    update_interval=timedelta(minutes=30),
    client_type=BoditraxClient,
    tracker_type=BoditraxTracker,
    sensors=SENSORS,
    record_fields=RECORD_FIELDS,
    event=describe_event("new_scan", summary_fn=_summary),
    calendar=describe_calendar("scans", _scans),
    statistics=STATISTICS,
    oauth2=OAUTH2,
    configuration_url="https://boditrax.com",
)


class FacilityTracker(AccountTracker[BoditraxFacilityClient, FacilityStatistics]):
    """A facility's statistics, read afresh at every poll: nothing to keep in between."""

    async def async_poll(self, since: Cursor | None) -> Polled[FacilityStatistics]:
        """One request: the facility's statistics. A facility has no records to fire."""
        return Polled(await self.client.async_get_statistics(self.account))


# Boditrax counts scans in its own day, week and month and restarts each count at zero; when
# that happens (the facility's time zone, its first day of the week) is not in the answer. So
# the counts are total_increasing, as core's sensors of daily and monthly counters a service
# resets are (tplink, vesync, sunsynk): a drop is taken as a new period, and long-term
# statistics add up the scans across periods. last_reset would need the instant of the reset.
# Time alone changes every figure (a new day, week or month; the 30 days move on), so none is
# restored after a restart while Boditrax is down.
COUNTER = SensorStateClass.TOTAL_INCREASING


def _counter(
    key: str, value_fn: Callable[[FacilityStatistics], int | None], **kwargs: Any
) -> HealthTrackersSensorDescription[FacilityStatistics]:
    return describe_sensor(key, value_fn, state_class=COUNTER, restorable=False, **kwargs)


FACILITY_SENSORS: tuple[HealthTrackersSensorDescription[FacilityStatistics], ...] = (
    _counter("scans_today", lambda statistics: statistics.scans.today),
    _counter("scans_this_week", lambda statistics: statistics.scans.this_week),
    _counter("scans_this_month", lambda statistics: statistics.scans.this_month),
    # A rolling window: it rises and falls, so a measurement, not a counter.
    describe_sensor(
        "members_scanned_last_30_days",
        lambda statistics: statistics.members_scanned_last_30_days,
        state_class=SensorStateClass.MEASUREMENT,
        restorable=False,
    ),
    _counter("new_members_this_month", lambda statistics: statistics.new_members_this_month),
)

MACHINE_PERIODS: tuple[tuple[str, Callable[[ScanCounts], int | None], bool], ...] = (
    ("today", lambda scans: scans.today, True),
    ("this_week", lambda scans: scans.this_week, False),
    ("this_month", lambda scans: scans.this_month, False),
)
"""Per machine: the period, its count, and whether its sensor is enabled by default."""


def _machine_count(
    machine: str, count: Callable[[ScanCounts], int | None]
) -> Callable[[FacilityStatistics], int | None]:
    """The machine's count in a snapshot; None once the facility no longer lists it."""

    def value(statistics: FacilityStatistics) -> int | None:
        usage = statistics.machine(machine)
        return None if usage is None else count(usage.scans)

    return value


def _machine_sensors(
    statistics: FacilityStatistics,
) -> list[HealthTrackersSensorDescription[FacilityStatistics]] | None:
    """Scans per machine, named after the machine as the facility names it.

    None when the answer lists no machines at all (not even an empty list): it says nothing.
    """
    if statistics.machines is None:
        return None
    return [
        HealthTrackersSensorDescription(
            key=f"machine_{usage.id}_scans_{period}",
            translation_key=f"machine_scans_{period}",
            translation_placeholders={"machine": usage.name},
            value_fn=_machine_count(usage.id, count),
            state_class=COUNTER,
            restorable=False,
            entity_registry_enabled_default=enabled,
        )
        for usage in statistics.machines
        for period, count, enabled in MACHINE_PERIODS
    ]


BODITRAX_FACILITY = Provider(
    service="boditrax",
    kind="facility",
    name="Boditrax",
    default_origin="https://api.boditrax.com",
    # Statistics change with every scan at the gym; a reception screen wants them fresh. At
    # 15 minutes a poll is one request, and every second one also asks for a new token.
    update_interval=timedelta(minutes=15),
    client_type=BoditraxFacilityClient,
    tracker_type=FacilityTracker,
    sensors=FACILITY_SENSORS,
    listed_sensors=_machine_sensors,
    oauth2=replace(
        OAUTH2, scopes=(), linked_accounts=False, may_drop_state=False, application_access=True
    ),
    configuration_url="https://boditrax.com",
)
