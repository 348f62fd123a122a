"""Fake Boditrax (api.boditrax.com): OAuth 2.0 with scopes, linked accounts and app tokens.

Serves the contract docs/service-contracts.md assumes (nothing of the data API is public):
``/rest/v2.10/members`` and ``/rest/v2.10/readings`` with metric names as in Boditrax's own
exports, and for an application's own token (client credentials) ``/rest/v2.10/facilities``
and each facility's ``statistics``, counted from a seeded log of the gym's scans. Members can be
set to export-style values (decimal commas, day-first local dates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import random
from typing import Any, ClassVar

from aiohttp import web

from .base import HISTORY_SEED, AddedRecord, insert_newest_first, seeded_period, squeeze
from .oauth2 import OAuth2Client, OAuth2Service, TokenEncoding

REST = "/rest/v2.10"
REPORTING = "reporting"
ALL_SCOPES = ("measurement_analysis", "front_end", REPORTING)
DEFAULT_CLIENT = OAuth2Client(
    "boditrax-demo@apps.boditrax.com", "boditrax-demo-secret", "Home Assistant", scopes=ALL_SCOPES
)
SEGMENTS = ("LeftArm", "RightArm", "LeftLeg", "RightLeg")
DEMO_MEMBER = ("m_456", "Kim Rower", 11)
"""The demo's second member (id, name, seed), reached through a linked account only."""
DEMO_LINKED_USERNAME, DEMO_LINKED_SECRET = "gym-app-user-7", "gym-app-secret-7"
"""The linked account of the demo's second member: what a partner app stored with Boditrax."""
FACILITY = ("f_1", "Riverside Gym", 3)
"""The facility every member scans at (id, name, seed), consented to every app."""
MACHINES = {"bx_1": "Reception", "bx_2": "Studio"}
"""The facility's Boditrax machines: id → the name the gym gave it."""
MEMBERSHIP = 400
"""Members of the facility's seeded log; some joined this month."""


@dataclass
class Reading:
    """One scan: when, where and the metrics it measured."""

    id: str
    date: datetime
    measurements: dict[str, float]
    facility: str = "f_1"


@dataclass
class BoditraxMember:
    """A gym member with a deterministic history of scans, newest first."""

    id: str
    name: str
    readings: list[Reading] = field(default_factory=list)
    linked: dict[str, str] = field(default_factory=dict)
    """Linked-account external username → secret."""
    seed: int | None = None
    """What its history was generated from; None for a member given its scans."""
    export_style: bool = False
    """Serve values as in a European export: decimal commas, day-first dates without a zone."""

    @classmethod
    def generate(
        cls,
        member_id: str,
        name: str,
        *,
        seed: int,
        count: int,
        now: datetime,
        span: timedelta | None = None,
    ) -> BoditraxMember:
        """``count`` scans going back from ``now``, a few days apart, the same for the same seed.

        ``span``: the oldest lies at most that far back (the gaps shrink to fit).
        """
        rng = random.Random(seed)
        weight, fat, bone = rng.uniform(70, 95), rng.uniform(14, 26), rng.uniform(2.8, 3.6)
        date = now - timedelta(hours=rng.uniform(20, 60))
        readings = []
        for index in range(count):
            # A walk that stays a body over thousands of scans.
            weight = min(max(weight + rng.uniform(-0.6, 0.6), 55.0), 120.0)
            fat = min(max(fat + rng.uniform(-0.4, 0.4), 8.0), 35.0)
            readings.append(
                Reading(
                    f"r_{seed}_{count - index}",
                    date.replace(microsecond=0),
                    _scan(rng, weight, fat, bone),
                )
            )
            date -= timedelta(days=rng.uniform(3, 10))
        if span is not None and readings:
            moved = squeeze(now, readings[-1].date, span)
            for reading in readings:
                reading.date = moved(reading.date)
        return cls(member_id, name, readings, seed=seed)

    def add_reading(self, reading: Reading) -> None:
        """Record a new scan, keeping newest first."""
        insert_newest_first(self.readings, reading, _taken)


def _taken(reading: Reading) -> datetime:
    return reading.date


@dataclass(frozen=True)
class FacilityScan:
    """One scan at the facility: when, by whom, on which machine."""

    at: datetime
    member: str
    machine: str


@dataclass
class Facility:
    """A gym: its machines, the scans taken there and when its members joined."""

    id: str
    name: str
    machines: dict[str, str] = field(default_factory=lambda: dict(MACHINES))
    scans: list[FacilityScan] = field(default_factory=list)
    joined: dict[str, datetime] = field(default_factory=dict)
    """Member id → when they joined the facility."""

    @classmethod
    def generate(cls, facility_id: str, name: str, *, seed: int, now: datetime) -> Facility:
        """Two months of scans up to ``now``, a few dozen a day, the same for the same seed."""
        rng = random.Random(seed)
        facility = cls(facility_id, name)
        members = [f"m_{seed}_{index}" for index in range(MEMBERSHIP)]
        for member in members:
            facility.joined[member] = now - timedelta(days=rng.uniform(0, 720))
        for day in range(62):
            for _ in range(rng.randint(10, 40)):
                at = now - timedelta(days=day, seconds=rng.uniform(0, 86400))
                member = rng.choice(members)
                if facility.joined[member] <= at:
                    machine = rng.choice(list(facility.machines))
                    facility.scans.append(FacilityScan(at.replace(microsecond=0), member, machine))
        return facility

    def statistics(self, now: datetime) -> dict[str, Any]:
        """What Boditrax counts: its day, week (from Monday) and month, in UTC, up to ``now``."""
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        periods = {
            "today": today,
            "thisweek": today - timedelta(days=today.weekday()),
            "thismonth": today.replace(day=1),
        }

        def scans(machine: str | None = None) -> dict[str, int]:
            return {
                period: sum(
                    1
                    for scan in self.scans
                    if start <= scan.at <= now and machine in (None, scan.machine)
                )
                for period, start in periods.items()
            }

        month_ago = now - timedelta(days=30)
        return {
            "scans": scans(),
            "members": {
                "scannedlast30days": len(
                    {scan.member for scan in self.scans if month_ago <= scan.at <= now}
                ),
                "newthismonth": sum(
                    1 for joined in self.joined.values() if periods["thismonth"] <= joined <= now
                ),
            },
            "machines": [
                {"id": machine, "name": name, "scans": scans(machine)}
                for machine, name in self.machines.items()
            ],
        }


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _scan(rng: random.Random, weight: float, fat: float, bone: float) -> dict[str, float]:
    fat_free = weight - fat
    muscle = fat_free - bone
    water = fat_free * 0.73
    scan = {
        "BodyWeight": weight,
        "FatMass": fat,
        "MuscleMass": muscle,
        "WaterMass": water,
        "IntraCellularWaterMass": water * 0.62,
        "ExtraCellularWaterMass": water * 0.38,
        "BoneMass": bone,
        "FatFreeMass": fat_free,
        "VisceralFatRating": float(rng.randint(4, 14)),
        "MetabolicAge": float(rng.randint(25, 55)),
        "BasalMetabolicRatekJ": 4.184 * (370 + 21.6 * fat_free),
        "BodyMassIndex": weight / 1.8**2,
        "BoditraxScore": float(rng.randint(50, 90)),
        "PhaseAngle": rng.uniform(5.5, 7.5),
        "TrunkMuscleMass": muscle * 0.48,
        "TrunkFatMass": fat * 0.5,
    }
    for segment in SEGMENTS:
        share = 0.1 if "Arm" in segment else 0.16
        scan[f"{segment}MuscleMass"] = muscle * share * 0.5
        scan[f"{segment}FatMass"] = fat * share * 0.6
        scan[f"PhaseAngle{segment}"] = rng.uniform(5.0, 7.8)
    return {key: round(value, 2) for key, value in scan.items()}


@dataclass
class FakeBoditrax(OAuth2Service):
    """Boditrax: OAuth 2.0 at /oauth, REST under /rest/v2.10.

    Token requests are form-encoded; the password grant comes as a GET; an app may get a token
    of its own (client credentials).
    """

    service: ClassVar[str] = "boditrax"
    name: ClassVar[str] = "Boditrax"
    authorize_path: ClassVar[str] = "/oauth/auth"
    token_path: ClassVar[str] = "/oauth/token"
    token_encodings: ClassVar[frozenset[TokenEncoding]] = frozenset({"form"})
    access_token_lifetime: ClassVar[int] = 1800
    password_grant: ClassVar[bool] = True
    client_credentials_grant: ClassVar[bool] = True
    requires_state: ClassVar[bool] = False
    """Boditrax's doc shows its authorize URL without ``state``."""

    history: int = 60
    """Scans per member: over a year (3 to 10 days apart), so a year's graph of them is full."""
    members: dict[str, BoditraxMember] = field(default_factory=dict)
    facilities: dict[str, Facility] = field(default_factory=dict)
    refuse_secret: bool = False
    """Boditrax reset the app's secret: the one Home Assistant holds is refused (401)."""
    withhold_reporting: bool = False
    """Boditrax took ``reporting`` from the app: its tokens lose it at once (403)."""

    def __post_init__(self) -> None:
        """A default app with every scope, and the facility it reports on.

        One member, with a seeded history and a linked account, scans there.
        """
        self.register_client(DEFAULT_CLIENT)
        if not self.members:
            member = BoditraxMember.generate(
                "m_123", "Jo Lifter", seed=5, count=self.history, now=self.now
            )
            member.linked["partner-user-42"] = "partner-secret"
            self.add_member(member)
        if not self.facilities:
            facility_id, name, seed = FACILITY
            self.add_facility(Facility.generate(facility_id, name, seed=seed, now=self.now))

    def add_facility(self, facility: Facility) -> Facility:
        """Add a facility that has consented to every app."""
        self.facilities[facility.id] = facility
        return facility

    def secret_valid(self, client: OAuth2Client, secret: str) -> bool:
        """Refused while ``refuse_secret`` is on."""
        return not self.refuse_secret and super().secret_valid(client, secret)

    def granted_scopes(self, client: OAuth2Client) -> tuple[str, ...]:
        """Without ``reporting`` while ``withhold_reporting`` is on."""
        scopes = super().granted_scopes(client)
        return tuple(s for s in scopes if not (self.withhold_reporting and s == REPORTING))

    def add_member(self, member: BoditraxMember) -> BoditraxMember:
        """Add a member; the first one is the one signed in on the sign-in page."""
        self.members[member.id] = member
        self.current_user = self.current_user or member.id
        return member

    def users(self) -> dict[str, str]:
        """Member id → display name."""
        return {member_id: member.name for member_id, member in self.members.items()}

    def add_demo_accounts(self) -> None:
        """A second member for the demo (``python -m fakes serve``), behind a linked account.

        Tests keep the default member, whose linked account is the same person as its login.
        """
        member_id, name, seed = DEMO_MEMBER
        member = BoditraxMember.generate(
            member_id, name, seed=seed, count=self.history, now=self.now
        )
        member.linked[DEMO_LINKED_USERNAME] = DEMO_LINKED_SECRET
        self.add_member(member)

    def seed_history(self, member_id: str, count: int, years: float) -> str:
        """Replace the member's scans with ``count`` going back at most ``years``; say so."""
        end, span = seeded_period(years)
        member = self.members[member_id]
        member.readings = BoditraxMember.generate(
            member_id,
            member.name,
            seed=HISTORY_SEED,
            count=count,
            now=end,
            span=span,
        ).readings
        return f"{count} scans of {member.name}"

    def add_record(self, member_id: str, measured_at: datetime | None = None) -> AddedRecord:
        """A scan a little lighter than the last one, taken now or at ``measured_at``.

        The scan's date is written in ``measured_at``'s offset.
        """
        member = self.members[member_id]
        latest = member.readings[0] if member.readings else None
        values = dict(latest.measurements) if latest else {}
        rng = random.Random(len(member.readings))
        weight = values.get("BodyWeight", 80.0) - 0.4
        fat = values.get("FatMass", 18.0) - 0.3
        scan = _scan(rng, weight, fat, values.get("BoneMass", 3.2))
        date = _now() if measured_at is None else measured_at.replace(microsecond=0)
        reading = Reading(f"r_{member_id}_{len(member.readings) + 1}", date, scan)
        member.add_reading(reading)
        if (facility := self.facilities.get(reading.facility)) is not None:
            machine = next(iter(facility.machines))
            facility.scans.append(FacilityScan(reading.date, member_id, machine))
        when = "taken now" if measured_at is None else f"taken {date.isoformat()}"
        return AddedRecord(
            reading.id, date, f"a scan of {member.name} ({scan['BodyWeight']} kg), {when}"
        )

    def history_ending(self, member_id: str, days_ago: float) -> str:
        """The member's generated scans again, ``days_ago`` days earlier than at the start; say so.

        A member who has not scanned for a month, for a reminder; 0 days brings them back to
        where they were. Scans added since (``add_record``) stay as they are, ids never repeat.
        """
        member = self.members[member_id]
        if member.seed is None:
            raise KeyError(member_id)
        generated = BoditraxMember.generate(
            member.id,
            member.name,
            seed=member.seed,
            count=self.history,
            now=self.now - timedelta(days=days_ago),
        ).readings
        ids = {reading.id for reading in generated}
        added = [reading for reading in member.readings if reading.id not in ids]
        member.readings = sorted([*generated, *added], key=lambda item: item.date, reverse=True)
        return f"the scans of {member.name}, the newest from {member.readings[0].date.isoformat()}"

    def records_of(self, member_id: str) -> list[Reading]:
        """The member's scans, newest first."""
        return self.members[member_id].readings

    def linked_user(self, username: str, secret: str) -> str | None:
        """The member a linked account belongs to."""
        for member in self.members.values():
            if secret and member.linked.get(username) == secret:
                return member.id
        return None

    def setup_routes(self, app: web.Application) -> None:
        """OAuth plus the members, readings and facilities collections."""
        self.setup_oauth_routes(app)
        app.router.add_get(f"{REST}/members", self._members)
        app.router.add_get(f"{REST}/readings", self._readings)
        app.router.add_get(f"{REST}/facilities", self._facilities)
        app.router.add_get(f"{REST}/facilities/{{facility}}/statistics", self._statistics)

    async def _facilities(self, request: web.Request) -> web.Response:
        self.bearer_application(request, REPORTING)
        return web.json_response(
            [{"id": facility.id, "name": facility.name} for facility in self.facilities.values()]
        )

    async def _statistics(self, request: web.Request) -> web.Response:
        self.bearer_application(request, REPORTING)
        if (facility := self.facilities.get(request.match_info["facility"])) is None:
            return web.json_response({"success": False, "error": "No such facility"}, status=404)
        return web.json_response(facility.statistics(datetime.now(UTC)))

    async def _members(self, request: web.Request) -> web.Response:
        member = self.members[self.bearer_user(request, "front_end", "user_management")]
        first, _, last = member.name.partition(" ")
        return web.json_response([{"id": member.id, "firstname": first, "lastname": last}])

    async def _readings(self, request: web.Request) -> web.Response:
        member = self.members[self.bearer_user(request, "measurement_analysis", REPORTING)]
        try:
            limit = int(request.query.get("limit", 20))
            page = int(request.query.get("page", 0))
        except ValueError:
            return web.json_response(
                {"success": False, "error": "limit and page are numbers"}, status=400
            )
        chunk = member.readings[page * limit : (page + 1) * limit]
        return web.json_response([self._render(reading, member) for reading in chunk])

    @staticmethod
    def _render(reading: Reading, member: BoditraxMember) -> dict[str, Any]:
        if member.export_style:
            date = reading.date.strftime("%d/%m/%Y %H:%M:%S")
            values: dict[str, Any] = {
                key: f"{value}".replace(".", ",") for key, value in reading.measurements.items()
            }
        else:
            date = reading.date.isoformat().replace("+00:00", "Z")
            values = dict(reading.measurements)
        return {
            "id": reading.id,
            "member": member.id,
            "facility": reading.facility,
            "date": date,
            "measurements": values,
        }
