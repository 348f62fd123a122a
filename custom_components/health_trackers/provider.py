"""The one interface every service implements; the rest of the integration knows only this."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import os
from typing import Any, Literal

from homeassistant.components.sensor import SensorEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import StateType
from yarl import URL

from .clients.api import Authenticator, ServiceApi
from .clients.oauth1 import OAuth1Settings
from .const import LOGGER

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Services report in their own units; sensors show one unit per kind (minutes, kilometres,
# kilocalories), converted here once, so states are plain numbers a template can print.
SECONDS_PER_MINUTE = 60
METERS_PER_KILOMETER = 1000
KJ_PER_KCAL = 4.184
KMH_PER_METER_PER_SECOND = 3.6

SensorValue = StateType | datetime


@dataclass(frozen=True)
class ServiceData:
    """What a poll found.

    ``values``: sensor description key → value; a missing key means the service has none.
    ``measured_at``: for values that come from an earlier measurement than the latest one, when.
    """

    values: Mapping[str, SensorValue]
    measured_at: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Account:
    """Who a set of credentials belongs to."""

    id: str
    title: str


class ServiceClient(ABC):
    """Reads one account's data.

    One instance lives as long as its config entry is loaded, so it may remember what it
    fetched to keep idle polls cheap.
    """

    def __init__(self, api: ServiceApi) -> None:
        """Keep the API; no I/O here."""
        self.api = api

    @abstractmethod
    async def async_get_account(self) -> Account:
        """The account the credentials belong to (its id becomes the entry's unique id)."""

    @abstractmethod
    async def async_get_data(self) -> ServiceData:
        """Current values for the provider's sensors."""


def scaled(value: float | None, factor: float) -> float | None:
    """``value`` in another unit (``factor`` per service unit); None stays None."""
    return None if value is None else value * factor


def describe_sensor(key: str, **kwargs: Any) -> SensorEntityDescription:
    """A sensor named by its translation key, which is its key."""
    return SensorEntityDescription(key=key, translation_key=key, **kwargs)


@dataclass(frozen=True, kw_only=True)
class OAuth2Settings:
    """How a service speaks OAuth 2.0."""

    authorize_path: str
    token_path: str
    token_encoding: Literal["json", "form"] = "form"
    scopes: tuple[str, ...] = ()
    token_lifetime: timedelta
    """The documented access-token lifetime, used when a token answer has no expires_in."""
    password_grant: bool = False
    """Linked accounts of partner apps sign in with ``grant_type=password``, sent as a GET."""
    may_drop_state: bool = False
    """The service may send the browser back without ``state`` (its docs show none).

    Home Assistant's own callback then cannot tell which flow to resume, so the sign-in goes
    through our views instead (oauth2_redirect), which also know the browser by a cookie.
    """


@dataclass(frozen=True, kw_only=True)
class Provider:
    """A service: where it lives, how it signs in, what it measures and how to read it."""

    service: str
    name: str
    default_origin: str
    update_interval: timedelta
    sensors: tuple[SensorEntityDescription, ...]
    client_factory: Callable[[ServiceApi], ServiceClient]
    oauth2: OAuth2Settings | None = None
    oauth1: OAuth1Settings | None = None
    personal_sensors: tuple[SensorEntityDescription, ...] = ()
    """Sensors that reveal private details (where, notes): created only when the user opts in."""
    query: Mapping[str, str] = field(default_factory=dict)
    """Query parameters the service wants on every request (BACtrack: ``format=json``)."""
    configuration_url: str | None = None

    def api(self, hass: HomeAssistant, auth: Authenticator) -> ServiceApi:
        """The service's API on Home Assistant's shared session, signed by ``auth``."""
        return ServiceApi(async_get_clientsession(hass), self.origin, auth, self.query)

    def client(self, hass: HomeAssistant, auth: Authenticator) -> ServiceClient:
        """A client for the account ``auth`` signs in as."""
        return self.client_factory(self.api(hass, auth))

    @property
    def origin(self) -> str:
        """The service's origin; ``HEALTH_TRACKERS_<SERVICE>_URL`` replaces it for development.

        Only an https origin or a plain-http one on this machine is accepted, so the variable can
        point at the fakes but never send secrets in clear text across a network.
        """
        variable = f"HEALTH_TRACKERS_{self.service.upper()}_URL"
        if not (override := os.environ.get(variable)):
            return self.default_origin
        url = URL(override)
        if url.scheme == "https" or (url.scheme == "http" and url.host in LOOPBACK_HOSTS):
            return override.rstrip("/")
        LOGGER.warning("Ignoring %s: only https or a loopback http origin is accepted", variable)
        return self.default_origin
