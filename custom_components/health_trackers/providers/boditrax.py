"""Boditrax (gym body-composition scans) over OAuth 2.0, with linked accounts for partner apps.

The data API is not public; docs/service-contracts.md writes down the contract assumed here.
An idle poll asks for the newest reading only. Each metric keeps its newest known value, so a
scan that lacks one (a scale without segmental analysis, say) does not blank the sensor; the
sensor then says when its value was measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import re
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfMass

from ..clients.api import ServiceApi
from ..clients.exceptions import InvalidResponseError
from ..clients.parsing import as_local_datetime, as_local_float, as_text
from ..provider import (
    KJ_PER_KCAL,
    Account,
    OAuth2Settings,
    Provider,
    SensorValue,
    ServiceClient,
    ServiceData,
    describe_sensor,
)

REST = "/rest/v2.10"
READ_SCOPE = "measurement_analysis"
MEMBER_SCOPE = "front_end"
BACKFILL = 20
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
class _Scan:
    """A reading as we use it: its id, when it was taken and the metrics that could be read."""

    id: str | None
    date: datetime
    metrics: dict[str, float]


@dataclass(frozen=True)
class _Known:
    value: float
    measured_at: datetime


class BoditraxClient(ServiceClient):
    """Reads the member's scans and remembers the newest value of every metric."""

    def __init__(self, api: ServiceApi) -> None:
        """Nothing known yet."""
        super().__init__(api)
        self._newest: _Scan | None = None
        self._known: dict[str, _Known] = {}

    async def async_get_account(self) -> Account:
        """The member the token belongs to: the one entity its ``members`` collection shows."""
        answer = await self.api.async_request("GET", f"{REST}/members", scope=MEMBER_SCOPE)
        first = answer[0] if isinstance(answer, list) and answer else None
        member = as_text(first.get("id") if isinstance(first, dict) else first)
        if member is None:
            raise InvalidResponseError("members answered no member")
        return Account(id=member, title=f"Boditrax {member}")

    async def async_get_data(self) -> ServiceData:
        """One request when no scan is new; a backfill of recent scans on the first poll."""
        scans = await self._async_scans(1 if self._newest else BACKFILL)
        if scans and scans[0] != self._newest:
            for scan in reversed(scans):  # oldest first: newer values win
                for metric, value in scan.metrics.items():
                    self._known[metric] = _Known(value, scan.date)
            self._newest = scans[0]
        return self._data()

    async def _async_scans(self, limit: int) -> list[_Scan]:
        """The newest ``limit`` readings, newest first; unreadable items are skipped."""
        answer = await self.api.async_request(
            "GET", f"{REST}/readings", params={"limit": str(limit)}, scope=READ_SCOPE
        )
        if not isinstance(answer, list):
            raise InvalidResponseError("readings is not a list")
        scans = []
        for item in answer:
            if not isinstance(item, dict) or (date := as_local_datetime(item.get("date"))) is None:
                continue
            raw = item.get("measurements")
            metrics = _metrics(raw) if isinstance(raw, Mapping) else {}
            scans.append(_Scan(as_text(item.get("id")), date, metrics))
        scans.sort(key=lambda scan: scan.date, reverse=True)
        return scans

    def _data(self) -> ServiceData:
        if self._newest is None:
            return ServiceData({})
        scan_time = self._newest.date
        values: dict[str, SensorValue] = {"scan_time": scan_time}
        measured_at: dict[str, datetime] = {}

        def put(key: str, value: float, *sources: str) -> None:
            values[key] = value
            oldest = min(self._known[source].measured_at for source in sources)
            if oldest < scan_time:
                measured_at[key] = oldest

        for key, metric in DIRECT.items():
            if metric in self._known:
                put(key, self._known[metric].value, metric)
        if "BasalMetabolicRatekJ" in self._known:
            bmr = self._known["BasalMetabolicRatekJ"].value / KJ_PER_KCAL
            put("basal_metabolic_rate", bmr, "BasalMetabolicRatekJ")
        weight = self._known.get("BodyWeight")
        for key, metric in (("body_fat", "FatMass"), ("water_percentage", "WaterMass")):
            if weight and weight.value > 0 and metric in self._known:
                share = self._known[metric].value / weight.value * 100
                put(key, share, metric, "BodyWeight")
        return ServiceData(values, measured_at)


def _metrics(raw: Mapping[Any, Any]) -> dict[str, float]:
    """Known-format metrics; unknown names are kept (ignored later), unreadable values dropped."""
    return {
        str(name): number
        for name, value in raw.items()
        if (number := as_local_float(value)) is not None
    }


def _describe(key: str, **kwargs: Any) -> SensorEntityDescription:
    return describe_sensor(key, state_class=SensorStateClass.MEASUREMENT, **kwargs)


def _mass(key: str, **kwargs: Any) -> SensorEntityDescription:
    return _describe(
        key,
        device_class=SensorDeviceClass.WEIGHT,
        native_unit_of_measurement=UnitOfMass.KILOGRAMS,
        suggested_display_precision=1,
        **kwargs,
    )


def _percentage(key: str) -> SensorEntityDescription:
    return _describe(key, native_unit_of_measurement=PERCENTAGE, suggested_display_precision=1)


SENSORS: tuple[SensorEntityDescription, ...] = (
    _mass("weight"),
    _percentage("body_fat"),
    _mass("fat_mass"),
    _mass("muscle_mass"),
    _mass("water_mass"),
    _percentage("water_percentage"),
    _mass("bone_mass"),
    _mass("fat_free_mass"),
    _describe("visceral_fat_rating", suggested_display_precision=0),
    _describe("metabolic_age", native_unit_of_measurement="years", suggested_display_precision=0),
    _describe(
        "basal_metabolic_rate", native_unit_of_measurement="kcal/d", suggested_display_precision=0
    ),
    _describe("bmi", suggested_display_precision=1),
    _describe("boditrax_score", suggested_display_precision=0),
    _describe("phase_angle", native_unit_of_measurement="°", suggested_display_precision=1),
    describe_sensor("scan_time", device_class=SensorDeviceClass.TIMESTAMP),
    *(
        _mass(key, entity_registry_enabled_default=False)
        for key, metric in DIRECT.items()
        if metric in SEGMENTAL
    ),
)

BODITRAX = Provider(
    service="boditrax",
    name="Boditrax",
    default_origin="https://api.boditrax.com",
    update_interval=timedelta(minutes=30),
    sensors=SENSORS,
    client_factory=BoditraxClient,
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
