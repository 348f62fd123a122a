"""A fourth service that exists only in tests: one client, one provider and one fake.

"Scales" is a made-up smart-scale cloud: OAuth 2.0 through application credentials,
``GET /v1/me`` names the user, ``GET /v1/weighins?per_page&page`` lists weigh-ins newest first.
Registered by a fixture, it proves that a service needs nothing else of the integration.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import UnitOfMass

from custom_components.health_trackers.clients.base import (
    Account,
    Page,
    RecordsSince,
    WholeRecordsClient,
    index_pages,
    read_page,
)
from custom_components.health_trackers.clients.exceptions import InvalidResponseError
from custom_components.health_trackers.clients.parsing import as_datetime, as_float, as_text
from custom_components.health_trackers.providers.base import (
    OAuth2Settings,
    Provider,
    RecordField,
    RecordTracker,
    describe_event,
    describe_sensor,
    describe_statistic,
)
from fakes.base import json_answer
from fakes.oauth2 import OAuth2Client, OAuth2Service

# -- the client (no Home Assistant) -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WeighIn:
    """One weigh-in: when, and the weight in kg."""

    id: str
    measured_at: datetime
    weight: float

    @classmethod
    def parse(cls, item: object) -> WeighIn | None:
        if not isinstance(item, Mapping):
            return None
        at, weight = as_datetime(item.get("at")), as_float(item.get("kg"))
        if (weigh_in := as_text(item.get("id"))) is None or at is None or weight is None:
            return None
        return cls(id=weigh_in, measured_at=at, weight=weight)


class ScalesClient(WholeRecordsClient[WeighIn]):
    """A Scales user and their weigh-ins."""

    page_size = 50

    async def async_get_account(self) -> Account:
        me = await self.api.async_request("GET", "/v1/me")
        if not isinstance(me, Mapping) or (user := as_text(me.get("id"))) is None:
            raise InvalidResponseError("me answered no id")
        return Account(id=user, name=as_text(me.get("name")))

    async def _pages(
        self, first: int, size: int, before: datetime | None
    ) -> AsyncGenerator[Page[WeighIn]]:
        for per_page, index in index_pages(first, size):
            answer = await self.api.async_request(
                "GET", "/v1/weighins", params={"per_page": str(per_page), "page": str(index)}
            )
            if not isinstance(answer, Mapping) or not isinstance(answer.get("items"), list):
                raise InvalidResponseError("weighins answered no items")
            page = read_page(answer["items"], WeighIn.parse, more=bool(answer.get("more")))
            yield page
            if not page.more:
                return


# -- the provider (Home Assistant's side) -----------------------------------------------------


@dataclass(frozen=True)
class ScalesSnapshot:
    latest: WeighIn | None


class ScalesTracker(RecordTracker[ScalesClient, ScalesSnapshot]):
    """Keeps the newest weigh-in."""

    probe = 1

    async def _async_keep(self, found: RecordsSince[WeighIn, WeighIn]) -> ScalesSnapshot:
        return ScalesSnapshot(found.listed[0] if found.listed else None)


SCALES = Provider(
    service="scales",
    name="Scales",
    default_origin="https://scales.invalid",
    update_interval=timedelta(minutes=10),
    client_type=ScalesClient,
    tracker_type=ScalesTracker,
    # Keys the integration's strings already name ("Weight", "New scan"): a real fourth service
    # adds its own to translations/en.json.
    sensors=(
        describe_sensor(
            "weight",
            lambda snapshot: snapshot.latest.weight if snapshot.latest else None,
            device_class=SensorDeviceClass.WEIGHT,
            native_unit_of_measurement=UnitOfMass.KILOGRAMS,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=1,
        ),
    ),
    record_fields=(RecordField("weight", lambda weigh_in: weigh_in.weight, digits=2),),
    event=describe_event("new_scan"),
    statistics=(
        describe_statistic("weight", lambda weigh_in: weigh_in.weight, UnitOfMass.KILOGRAMS),
    ),
    oauth2=OAuth2Settings(
        authorize_path="/oauth/authorize",
        token_path="/oauth/token",
        token_lifetime=timedelta(hours=1),
    ),
)


# -- the fake (real HTTP and OAuth 2.0 on 127.0.0.1) ------------------------------------------

CLIENT = OAuth2Client("scales-app", "scales-secret")


@dataclass
class FakeScales(OAuth2Service):
    """Scales: OAuth 2.0 at /oauth, weigh-ins under /v1."""

    service: ClassVar[str] = "scales"
    name: ClassVar[str] = "Scales"
    authorize_path: ClassVar[str] = "/oauth/authorize"
    token_path: ClassVar[str] = "/oauth/token"
    access_token_lifetime: ClassVar[int] = 3600

    now: datetime = field(default_factory=datetime.now)
    weigh_ins: list[dict[str, Any]] = field(default_factory=list)
    """Newest first, as the service lists them."""

    def __post_init__(self) -> None:
        """One user with a weigh-in a day for 30 days."""
        self.register_client(CLIENT)
        self.current_user = "u1"
        for day in range(30):
            self.weigh_ins.append(
                {
                    "id": str(1000 - day),
                    "at": (self.now - timedelta(days=day + 1)).isoformat(),
                    "kg": round(80 - day * 0.1, 1),
                }
            )

    def users(self) -> dict[str, str]:
        return {"u1": "Pat Scales"}

    def weigh(self, kg: float, at: datetime) -> dict[str, Any]:
        """A new weigh-in, the newest."""
        weigh_in = {"id": str(int(self.weigh_ins[0]["id"]) + 1), "at": at.isoformat(), "kg": kg}
        self.weigh_ins.insert(0, weigh_in)
        return weigh_in

    def setup_routes(self, app: web.Application) -> None:
        self.setup_oauth_routes(app)
        app.router.add_get("/v1/me", self._me)
        app.router.add_get("/v1/weighins", self._weigh_ins)

    async def _me(self, request: web.Request) -> web.Response:
        user = self.bearer_user(request)
        return json_answer({"id": user, "name": self.users()[user]})

    async def _weigh_ins(self, request: web.Request) -> web.Response:
        self.bearer_user(request)
        size, index = int(request.query["per_page"]), int(request.query["page"])
        items = self.weigh_ins[index * size : (index + 1) * size]
        return json_answer({"items": items, "more": (index + 1) * size < len(self.weigh_ins)})
