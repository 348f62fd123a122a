"""Boditrax: the body composition of a member's latest scan, and a gym's statistics, as sensors.

A member's idle poll asks for the newest scan only. Each metric keeps its newest known value, so a
scan that lacks one (a scale without segmental analysis, say) does not blank the sensor; the
sensor then says when its value was measured. The first poll after a start reads the last scans,
so metrics the newest scan lacks still have a value.

A facility is a second provider of the same service: the gym's application credential signs in
as the app itself (client credentials), and each poll reads the facility's statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import re
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import PERCENTAGE, UnitOfMass

from ..clients.base import Cursor
from ..clients.boditrax import (
    MEMBER_SCOPE,
    READ_SCOPE,
    BoditraxClient,
    BoditraxFacilityClient,
    FacilityStatistics,
    Scan,
    ScanCounts,
)
from ..provider import (
    KJ_PER_KCAL,
    AccountTracker,
    HealthTrackersSensorDescription,
    HealthTrackersStatisticDescription,
    OAuth2Settings,
    Polled,
    Provider,
    describe_event,
    describe_sensor,
    describe_statistic,
    sensor_values,
    warn_if_incomplete,
)

BACKFILL = 20
"""Scans the first poll reads, for metrics the newest scan lacks."""
SEGMENTAL = tuple(
    f"{part}{kind}Mass"
    for part in ("Trunk", "LeftArm", "RightArm", "LeftLeg", "RightLeg")
    for kind in ("Muscle", "Fat")
)
# Sensor key → the export metric it shows as is.
DIRECT = {
    "weight": "BodyWeight",
    "fat_mass": "FatMass",
    "muscle_mass": "MuscleMass",
    "water_mass": "WaterMass",
    "bone_mass": "BoneMass",
    "fat_free_mass": "FatFreeMass",
    "visceral_fat_rating": "VisceralFatRating",
    "metabolic_age": "MetabolicAge",
    "bmi": "BodyMassIndex",
    "boditrax_score": "BoditraxScore",
    "phase_angle": "PhaseAngle",
    **{re.sub(r"(?<!^)(?=[A-Z])", "_", _segment).lower(): _segment for _segment in SEGMENTAL},
}


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

    def value(self, metric: str) -> float | None:
        """The newest known value of ``metric``."""
        known = self.known.get(metric)
        return known.value if known else None

    def share(self, metric: str) -> float | None:
        """``metric`` as a percentage of the body weight."""
        weight, part = self.value("BodyWeight"), self.value(metric)
        return part / weight * 100 if weight and weight > 0 and part is not None else None

    def measured_at(self, *metrics: str) -> datetime | None:
        """When the oldest of ``metrics`` was measured, if before the newest scan."""
        times = [self.known[metric].measured_at for metric in metrics if metric in self.known]
        if not times or self.scan_time is None or min(times) >= self.scan_time:
            return None
        return min(times)


class BoditraxTracker(AccountTracker[BoditraxClient, BoditraxSnapshot]):
    """Remembers the newest scan and the newest value of every metric."""

    def __init__(self, client: BoditraxClient, account: str) -> None:
        """Nothing known yet."""
        super().__init__(client, account)
        self._newest: Scan | None = None
        self._known: dict[str, Known] = {}

    async def async_poll(self, since: Cursor | None) -> Polled[BoditraxSnapshot]:
        """One request when no scan is new; the last scans on the first poll.

        New scans since ``since`` (the newest one delivered) are all read, in pages; on the
        first poll after a start, beyond the last scans if ``since`` lies further back. A newest
        scan that changed (edited, or deleted so that an older one is the newest) is taken as
        the newest again.
        """
        if self._newest is None:
            scans = list(reversed(await self.client.async_history_before(None, limit=BACKFILL)))
            reached_since = since is None or (len(scans) < BACKFILL or Cursor.of(scans[0]) <= since)
            found = None if reached_since else await self.client.async_records_since(since)
            new = [s for s in scans if since is not None and Cursor.of(s) > since]
            if found is not None:
                warn_if_incomplete(found, "Boditrax scans")
                scans, new = [*scans, *found.records], list(found.records)
        else:
            bound = Cursor.of(self._newest)
            found = await self.client.async_records_since(
                bound if since is None else min(bound, since), first_page=1
            )
            newest = found.newest
            scans = list(found.records)
            if not scans and newest is not None and newest != self._newest:
                scans = [newest]
            new = [s for s in found.records if since is not None and Cursor.of(s) > since]
            if since is not None:
                warn_if_incomplete(found, "Boditrax scans")
        for scan in sorted(scans, key=Cursor.of):  # oldest first: newer values win
            for metric, value in scan.metrics.items():
                self._known[metric] = Known(value, scan.date)
        if scans:
            self._newest = max(scans, key=Cursor.of)
        snapshot = (
            BoditraxSnapshot(self._newest.date, dict(self._known))
            if self._newest is not None
            else BoditraxSnapshot()
        )
        return Polled(snapshot, tuple(new), Cursor.of(self._newest) if self._newest else None)


def _describe(
    key: str,
    value_fn: Callable[[BoditraxSnapshot], float | datetime | None],
    measured_at_fn: Callable[[BoditraxSnapshot], datetime | None],
    **kwargs: Any,
) -> HealthTrackersSensorDescription[BoditraxSnapshot]:
    return describe_sensor(
        key,
        value_fn,
        measured_at_fn=measured_at_fn,
        state_class=SensorStateClass.MEASUREMENT,
        **kwargs,
    )


def _metric(
    key: str, metric: str, **kwargs: Any
) -> HealthTrackersSensorDescription[BoditraxSnapshot]:
    """A metric shown as Boditrax sends it."""
    return _describe(
        key,
        lambda snapshot: snapshot.value(metric),
        lambda snapshot: snapshot.measured_at(metric),
        **kwargs,
    )


def _mass(key: str, **kwargs: Any) -> HealthTrackersSensorDescription[BoditraxSnapshot]:
    return _metric(
        key,
        DIRECT[key],
        device_class=SensorDeviceClass.WEIGHT,
        native_unit_of_measurement=UnitOfMass.KILOGRAMS,
        suggested_display_precision=1,
        **kwargs,
    )


def _percentage(key: str, metric: str) -> HealthTrackersSensorDescription[BoditraxSnapshot]:
    """``metric`` as a share of the body weight."""
    return _describe(
        key,
        lambda snapshot: snapshot.share(metric),
        lambda snapshot: snapshot.measured_at(metric, "BodyWeight"),
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
    )


def _bmr(snapshot: BoditraxSnapshot) -> float | None:
    bmr = snapshot.value("BasalMetabolicRatekJ")
    return None if bmr is None else bmr / KJ_PER_KCAL


SENSORS: tuple[HealthTrackersSensorDescription[BoditraxSnapshot], ...] = (
    _mass("weight"),
    _percentage("body_fat", "FatMass"),
    _mass("fat_mass"),
    _mass("muscle_mass"),
    _mass("water_mass"),
    _percentage("water_percentage", "WaterMass"),
    _mass("bone_mass"),
    _mass("fat_free_mass"),
    _metric("visceral_fat_rating", "VisceralFatRating", suggested_display_precision=0),
    _metric(
        "metabolic_age",
        "MetabolicAge",
        native_unit_of_measurement="years",
        suggested_display_precision=0,
    ),
    _describe(
        "basal_metabolic_rate",
        _bmr,
        lambda snapshot: snapshot.measured_at("BasalMetabolicRatekJ"),
        native_unit_of_measurement="kcal/d",
        suggested_display_precision=0,
    ),
    _metric("bmi", "BodyMassIndex", suggested_display_precision=1),
    _metric("boditrax_score", "BoditraxScore", suggested_display_precision=0),
    _metric(
        "phase_angle", "PhaseAngle", native_unit_of_measurement="°", suggested_display_precision=1
    ),
    describe_sensor(
        "scan_time",
        lambda snapshot: snapshot.scan_time,
        device_class=SensorDeviceClass.TIMESTAMP,
    ),
    *(
        _mass(key, entity_registry_enabled_default=False)
        for key, metric in DIRECT.items()
        if metric in SEGMENTAL
    ),
)


def _scan_data(scan: Scan) -> dict[str, Any]:
    """A scan's values as its sensors would show them (kg, %, kcal/d, …); None where it has none."""
    known = {metric: Known(value, scan.date) for metric, value in scan.metrics.items()}
    return sensor_values(
        (d for d in SENSORS if d.key != "scan_time"), BoditraxSnapshot(scan.date, known)
    )


STATISTICS_OF_SENSORS = (
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
"""The sensors whose values also go into long-term statistics, scan by scan."""


def _scan_statistic(
    description: HealthTrackersSensorDescription[BoditraxSnapshot],
) -> HealthTrackersStatisticDescription[Scan]:
    """A sensor's value of each scan, hour by hour (mean, min, max), in the sensor's unit."""

    def value(scan: Scan) -> float | None:
        known = {metric: Known(number, scan.date) for metric, number in scan.metrics.items()}
        shown = description.value_fn(BoditraxSnapshot(scan.date, known))
        return float(shown) if isinstance(shown, int | float) else None

    return describe_statistic(description.key, value, description.native_unit_of_measurement)


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
    event=describe_event("new_scan", _scan_data),
    statistics=tuple(_scan_statistic(d) for d in SENSORS if d.key in STATISTICS_OF_SENSORS),
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
) -> Iterator[HealthTrackersSensorDescription[FacilityStatistics]]:
    """Scans per machine, named after the machine as the facility names it."""
    for usage in statistics.machines:
        for period, count, enabled in MACHINE_PERIODS:
            yield HealthTrackersSensorDescription(
                key=f"machine_{usage.id}_scans_{period}",
                translation_key=f"machine_scans_{period}",
                translation_placeholders={"machine": usage.name},
                value_fn=_machine_count(usage.id, count),
                state_class=COUNTER,
                restorable=False,
                entity_registry_enabled_default=enabled,
            )


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
