"""Boditrax: the body composition of the latest scan as sensors.

An idle poll asks for the newest scan only. Each metric keeps its newest known value, so a scan
that lacks one (a scale without segmental analysis, say) does not blank the sensor; the sensor
then says when its value was measured. The first poll after a start reads the last scans, so
metrics the newest scan lacks still have a value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import re
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import PERCENTAGE, UnitOfMass

from ..clients.base import Cursor
from ..clients.boditrax import MEMBER_SCOPE, READ_SCOPE, BoditraxClient, Scan
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

    def __init__(self, client: BoditraxClient) -> None:
        """Nothing known yet."""
        super().__init__(client)
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
    oauth2=OAuth2Settings(
        authorize_path="/oauth/auth",
        token_path="/oauth/token",
        token_encoding="form",
        scopes=(READ_SCOPE, MEMBER_SCOPE),
        token_lifetime=timedelta(seconds=1800),
        password_grant=True,
        may_drop_state=True,
    ),
    configuration_url="https://boditrax.com",
)
