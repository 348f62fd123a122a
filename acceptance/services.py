"""What the suite knows of each service: how a user adds an account and what the fake serves.

A service is one ``ServiceUnderTest`` entry: its menu item, what to type into its forms, the
paths that mean "a new sign-in", and a reader that asks the fake for the account's values,
with a sign-in of its own, so sensors are compared with what the fake serves, not constants.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from authlib.oauth1 import ClientAuth
from yarl import URL

from custom_components.health_trackers.providers import PROVIDERS
from fakes.base import AddedRecord
from fakes.boditrax import DEMO_LINKED_SECRET, DEMO_LINKED_USERNAME
from scripts.demo import DOMAIN, REPO_ROOT

from .steps import StepFailed

STRINGS = f"custom_components/{DOMAIN}/translations/en.json"

Expected = str | float | datetime
"""A sensor's expected state: text as is, a number within rounding, or an instant."""
Info = Mapping[str, str]
"""One service of the fakes' ready file: origin, control endpoint and the demo app's keys."""

READER_REDIRECT = "http://127.0.0.1/acceptance-reader"
"""The reader's redirect URI: never opened, the code is taken from the Location header."""
LINKED_USERNAME, LINKED_SECRET = "partner-user-42", "partner-secret"
"""The linked account of the default Boditrax member (the one its sign-in page signs in)."""
REDIRECTS = frozenset({301, 302, 303, 307})


class _ConsentForm(HTMLParser):
    """The first form of a consent page, its hidden fields and its Allow button."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = "get"
        self.fields: dict[str, str] = {}
        self.allow: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action, self.method = found.get("action", ""), found.get("method", "get").lower()
        elif tag == "input" and "name" in found:
            self.fields[found["name"]] = found.get("value", "")
        elif tag == "button" and found.get("id") == "allow":
            self.allow = (found.get("name", ""), found.get("value", ""))


async def consent(session: aiohttp.ClientSession, url: str) -> str:
    """Approve like a browser: GET the consent page, submit it with Allow; return the redirect.

    The GET follows redirects (a sign-in may start at Home Assistant and go on to the service);
    the returned URL is absolute, resolved against the page that answered with it.
    """
    async with session.get(url) as page:
        text = await page.text()
        if page.status != 200:
            raise StepFailed(f"the consent page answered {page.status}: {text[:300]}")
        form, page_url = _ConsentForm(), page.url
    form.feed(text)
    if form.action is None or form.allow is None:
        raise StepFailed(f"no form with an Allow button at {url}")
    fields = form.fields | dict([form.allow] if form.allow[0] else [])
    post = form.method == "post"
    async with session.request(
        form.method.upper(),
        page_url.join(URL(form.action)),
        data=fields if post else None,
        params=None if post else fields,
        allow_redirects=False,
    ) as answer:
        if answer.status not in REDIRECTS:
            raise StepFailed(f"Allow answered {answer.status}: {(await answer.text())[:300]}")
        return str(answer.url.join(URL(answer.headers["Location"])))


@dataclass(frozen=True)
class Fake:
    """One fake seen from outside its process: its ready-file entry and its control endpoint."""

    info: Info

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A control request; its JSON answer."""
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, f"{self.info['control']}/{path}", json=body) as answer,
        ):
            if answer.status >= 400:
                raise StepFailed(
                    f"the fake's {method} {path} answered {answer.status}: {await answer.text()}"
                )
            return await answer.json()

    async def requests(self) -> list[dict[str, Any]]:
        """Every request the fake received so far: method, path, query and body."""
        return list(await self._call("GET", "requests"))

    async def revoke(self) -> None:
        """Withdraw every token the fake issued, as a user revoking access would."""
        await self._call("POST", "revoke", {})

    async def signed_in(self) -> str:
        """The account the fake's sign-in page signs in."""
        return str((await self._call("GET", "accounts"))["signed_in"])

    async def sign_in_as(self, account: str) -> None:
        """Make ``account`` the one the fake's sign-in page signs in."""
        await self._call("POST", "sign-in", {"account": account})

    async def measurements(self, account: str) -> dict[str, dict[datetime, float]]:
        """The account's series (SportTracks' health metrics): metric → instant → value."""
        held = await self._call("GET", f"measurements?account={account}")
        return {
            metric: {datetime.fromisoformat(at): float(value) for at, value in values}
            for metric, values in held.items()
        }

    async def add_record(self, account: str, measured_at: datetime | None = None) -> AddedRecord:
        """New data for ``account`` (a workout, scan or reading) measured then, or now."""
        body = {"account": account}
        if measured_at is not None:
            body["measured_at"] = measured_at.isoformat()
        added = await self._call("POST", "records", body)
        return AddedRecord(
            str(added["id"]), datetime.fromisoformat(added["measured_at"]), str(added["added"])
        )

    async def history_ending(self, account: str, days_ago: float) -> None:
        """Move ``account``'s generated history ``days_ago`` days back (0: as the fake started)."""
        await self._call("POST", "history", {"account": account, "days_ago": days_ago})

    async def seed_history(self, account: str, count: int, years: float) -> str:
        """Replace the account's history with ``count`` records going back at most ``years``."""
        body = {"account": account, "count": count, "years": years}
        return str((await self._call("POST", "seed", body))["seeded"])

    async def endpoint_counts(self) -> dict[str, int]:
        """Requests the fake received so far, per endpoint (``"GET /path/{id}"``)."""
        return dict((await self._call("GET", "stats"))["requests"])

    async def echo_state(self, echo: bool) -> None:
        """Whether the fake's redirect back to Home Assistant carries ``state``."""
        await self._call("POST", "echo-state", {"echo_state": echo})

    async def fail(self, **fault: Any) -> None:
        """Switch a fault on (``fakes.base.Fault``'s fields: status, delay, times, headers, …)."""
        await self._call("POST", "faults", fault)

    async def faults(self) -> dict[str, Any]:
        """The faults still on (``times`` counts down) and how many requests a delay holds now."""
        return dict(await self._call("GET", "faults"))

    async def clear_faults(self) -> None:
        """Every fault off."""
        await self._call("DELETE", "faults")

    async def down(self, down: bool) -> None:
        """Whether the fake answers every data request with 503."""
        await self._call("POST", "down", {"down": down})


async def _oauth2_get(
    info: Info, authorize_path: str, token_path: str, *requests: tuple[str, dict[str, str]]
) -> list[Any]:
    """Sign in to an OAuth 2.0 fake as another app would, then GET each ``(path, query)``."""
    query = {
        "client_id": info["client_id"],
        "response_type": "code",
        "redirect_uri": READER_REDIRECT,
        "state": secrets.token_urlsafe(8),
    }
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        code = URL(
            await consent(session, f"{info['origin']}{authorize_path}?{urlencode(query)}")
        ).query["code"]
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": READER_REDIRECT}
        grant |= {"client_id": info["client_id"], "client_secret": info["client_secret"]}
        async with session.post(f"{info['origin']}{token_path}", data=grant) as answer:
            token = (await answer.json())["access_token"]
        return await _bearer_get(session, info, token, *requests)


async def _bearer_get(
    session: aiohttp.ClientSession, info: Info, token: str, *requests: tuple[str, dict[str, str]]
) -> list[Any]:
    """GET each ``(path, query)`` at the fake with a bearer token; their JSON, in order."""
    answers = []
    for path, params in requests:
        async with session.get(
            f"{info['origin']}{path}", params=params, headers={"Authorization": f"Bearer {token}"}
        ) as answer:
            answers.append(await answer.json())
    return answers


async def _oauth1_get(info: Info, *requests: tuple[str, dict[str, str]]) -> list[Any]:
    """Sign in to an OAuth 1.0a fake as another app would (three legs), then GET each one."""
    origin, key, secret = info["origin"], info["consumer_key"], info["consumer_secret"]

    async def signed(session: aiohttp.ClientSession, method: str, url: str, auth: Any) -> str:
        url, headers, _ = auth.sign(method, url, {}, b"")
        async with session.request(method, url, headers=headers) as answer:
            return await answer.text()

    async with aiohttp.ClientSession(raise_for_status=True) as session:
        request_token = dict(
            parse_qsl(
                await signed(
                    session,
                    "POST",
                    f"{origin}/oauth/request_token/?format=json",
                    ClientAuth(key, secret, redirect_uri=READER_REDIRECT),
                )
            )
        )
        token, token_secret = request_token["oauth_token"], request_token["oauth_token_secret"]
        callback = URL(await consent(session, f"{origin}/oauth/authorize/?oauth_token={token}"))
        verifier = callback.query["oauth_verifier"]
        access = dict(
            parse_qsl(
                await signed(
                    session,
                    "POST",
                    f"{origin}/oauth/access_token/?format=json",
                    ClientAuth(key, secret, token, token_secret, verifier=verifier),
                )
            )
        )
        auth = ClientAuth(key, secret, access["oauth_token"], access["oauth_token_secret"])
        return [
            json.loads(await signed(session, "GET", f"{origin}{path}?{urlencode(params)}", auth))
            for path, params in requests
        ]


async def _linked_get(
    info: Info, username: str, secret: str, *requests: tuple[str, dict[str, str]]
) -> list[Any]:
    """Sign in to Boditrax as a partner app does for a linked account, then GET each one."""
    grant = {"grant_type": "password", "client_id": info["client_id"]}
    grant |= {"username": username, "password": secret}
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with session.get(f"{info['origin']}/oauth/token", params=grant) as answer:
            token = (await answer.json())["access_token"]
        return await _bearer_get(session, info, token, *requests)


async def boditrax_facility_values(info: Info) -> dict[str, Expected]:
    """The counts of the first facility that consented to the app, read with the app's own token.

    Not the members scanned in the last 30 days: the fake's seeded scans leave that window one by
    one as time passes, so it may change between this read and Home Assistant's.
    """
    grant = {"grant_type": "client_credentials", "client_id": info["client_id"]}
    grant |= {"client_secret": info["client_secret"]}
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with session.post(f"{info['origin']}/oauth/token", data=grant) as answer:
            token = (await answer.json())["access_token"]
        (facilities,) = await _bearer_get(session, info, token, ("/rest/v2.10/facilities", {}))
        statistics_path = f"/rest/v2.10/facilities/{facilities[0]['id']}/statistics"
        (statistics,) = await _bearer_get(session, info, token, (statistics_path, {}))
    scans = statistics["scans"]
    return {
        "scans_today": float(scans["today"]),
        "scans_this_week": float(scans["thisweek"]),
        "scans_this_month": float(scans["thismonth"]),
        "new_members_this_month": float(statistics["members"]["newthismonth"]),
    }


async def bactrack_values(info: Info) -> dict[str, Expected]:
    """The newest reading's BAC and time (the service writes UTC without a zone)."""
    (page,) = await _oauth1_get(
        info, ("/v1/readings/", {"person": "me", "limit": "1", "format": "json"})
    )
    reading = page["objects"][0]
    return {
        "bac": float(reading["bac_level"]),
        "last_reading": datetime.fromisoformat(reading["timestamp"]).replace(tzinfo=UTC),
    }


async def bactrack_personal_values(info: Info) -> dict[str, Expected]:
    """Where the newest reading was taken and its notes, as the two personal sensors show them."""
    (page,) = await _oauth1_get(
        info, ("/v1/readings/", {"person": "me", "limit": "1", "format": "json"})
    )
    reading = page["objects"][0]
    if reading["latitude"] is None or not reading["notes"]:
        raise StepFailed(f"the fake's newest reading has no place or notes: {reading}")
    return {
        "location": f"{reading['latitude']:.5f}, {reading['longitude']:.5f}",
        "notes": reading["notes"],
    }


async def sporttracks_values(info: Info) -> dict[str, Expected]:
    """The newest workout's type, distance and duration, and the workouts of the last 7 days."""
    since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    newest, week = await _oauth2_get(
        info,
        "/oauth2/authorize",
        "/oauth2/token",
        ("/api/v2/fitnessActivities", {"pageSize": "1"}),
        ("/api/v2/fitnessActivities", {"pageSize": "100", "noEarlierThan": since}),
    )
    workout = newest["items"][0]
    values: dict[str, Expected] = {
        "latest_workout_type": workout["type"],
        "latest_workout_duration": float(workout["duration"]) / 3600,  # s → h, as shown
        "week_workouts": float(week["size"]),
    }
    if "total_distance" in workout:
        values["latest_workout_distance"] = float(workout["total_distance"]) / 1000  # m → km
    return values


async def boditrax_values(info: Info) -> dict[str, Expected]:
    """The latest scan's time, weight and fat mass (of the member the sign-in page signs in)."""
    (scans,) = await _oauth2_get(
        info, "/oauth/auth", "/oauth/token", ("/rest/v2.10/readings", {"limit": "1"})
    )
    return _scan_values(scans[0])


async def boditrax_demo_linked_values(info: Info) -> dict[str, Expected]:
    """The same, of the member behind the demo's linked account."""
    (scans,) = await _linked_get(
        info, DEMO_LINKED_USERNAME, DEMO_LINKED_SECRET, ("/rest/v2.10/readings", {"limit": "1"})
    )
    return _scan_values(scans[0])


def _scan_values(scan: dict[str, Any]) -> dict[str, Expected]:
    return {
        "scan_time": datetime.fromisoformat(scan["date"]),
        "weight": float(scan["measurements"]["BodyWeight"]),
        "fat_mass": float(scan["measurements"]["FatMass"]),
    }


@dataclass(frozen=True)
class Reconfigured:
    """How a reconfigure of an account ends: the flow's abort reason and what its words say.

    Each way in signs in again with what it asks for, and the dialog's last words must name
    that: a way that asks for no application credential must not speak of one.
    """

    reason: str
    says: str
    """Words the English text must hold: what was given again, in this way's terms."""
    credential: bool
    """Whether the way signs in with an application credential of the user's (else the words
    name none: BACtrack asks for a consumer key, a linked account for an external secret)."""


@dataclass(frozen=True)
class ServiceUnderTest:
    """How a user adds one kind of account, and how to tell it worked."""

    name: str
    """The scenario's name."""
    service: str
    """The fake (and provider) it signs in to."""
    menu_item: str
    """The config flow's menu step."""
    menu_label: str
    """What the menu shows for it (the browser clicks this)."""
    sign_in_paths: tuple[str, ...]
    """Paths at the fake that sign in anew; token requests there that refresh do not count."""
    read_values: Callable[[Info], Awaitable[dict[str, Expected]]]
    """Sensor key → the value the fake serves for its account."""
    answers: Callable[[Info], dict[str, dict[str, Any]]] = field(default=lambda info: {})
    """Form step id → what the user types there."""
    window_keys: tuple[str, ...] = ()
    """Sensors of a figure over a window ending now: not restored, unavailable at a start while
    the service is down (the others show their values from before)."""
    reconfigured: Reconfigured | None = None
    """How a reconfigure of such an account ends, in words."""


@dataclass(frozen=True)
class Oracle:
    """What the suite knows of a way in on its own: how a user signs in, what the fake serves."""

    sign_in_paths: tuple[str, ...]
    read_values: Callable[[Info], Awaitable[dict[str, Expected]]]
    reconfigured: Reconfigured
    answers: Callable[[Info], dict[str, dict[str, Any]]] = field(default=lambda info: {})
    window_keys: tuple[str, ...] = ()


LINKED_RECONFIGURED = Reconfigured("reconfigured_linked", "external secret", credential=False)
"""A linked account signs in again with the external username and secret typed in, no credential
chosen (the partner app's is the entry's)."""
ORACLES = {
    "sporttracks": Oracle(
        sign_in_paths=("/oauth2/authorize", "/oauth2/token"),
        read_values=sporttracks_values,
        reconfigured=Reconfigured("reconfigure_successful", "credential", credential=True),
        window_keys=("week_workouts", "week_distance", "week_duration"),
    ),
    "bactrack": Oracle(
        sign_in_paths=("/oauth/request_token/", "/oauth/authorize/", "/oauth/access_token/"),
        read_values=bactrack_values,
        reconfigured=Reconfigured("reconfigured_consumer", "consumer key", credential=False),
        window_keys=("peak_bac_24h", "readings_24h"),
        answers=lambda info: {
            "consumer": {
                "consumer_key": info["consumer_key"],
                "consumer_secret": info["consumer_secret"],
            }
        },
    ),
    "boditrax": Oracle(
        sign_in_paths=("/oauth/auth", "/oauth/token"),
        read_values=boditrax_values,
        reconfigured=Reconfigured("reconfigure_successful", "credential", credential=True),
    ),
    "boditrax_linked": Oracle(
        sign_in_paths=("/oauth/auth", "/oauth/token"),
        read_values=boditrax_values,
        reconfigured=LINKED_RECONFIGURED,
        answers=lambda info: {
            "linked_account": {"username": LINKED_USERNAME, "password": LINKED_SECRET}
        },
    ),
    "boditrax_facility": Oracle(
        sign_in_paths=("/oauth/token",),
        read_values=boditrax_facility_values,
        # Nothing is asked: the app's own token, with the entry's credential.
        reconfigured=Reconfigured("reconfigured_application", "as the app", credential=True),
        # Every figure is of a day, week or month ending now.
        window_keys=(
            "scans_today",
            "scans_this_week",
            "scans_this_month",
            "new_members_this_month",
        ),
    ),
}
"""By menu option: one per way in of the integration."""


def _services() -> tuple[ServiceUnderTest, ...]:
    """A journey for every way in the integration's registry offers, labelled as its menu is.

    A way in without an oracle stops the suite: a new service cannot go untested.
    """
    labels = json.loads((REPO_ROOT / STRINGS).read_text(encoding="utf-8"))["config"]["step"]
    services = []
    for provider in PROVIDERS.values():
        for way in provider.ways_in:
            if (oracle := ORACLES.get(way.option)) is None:
                raise RuntimeError(f"acceptance/services.py has no ORACLES entry for {way.option}")
            services.append(
                ServiceUnderTest(
                    name=way.option.replace("_", " "),
                    service=provider.service,
                    menu_item=way.option,
                    menu_label=labels["user"]["menu_options"][way.option],
                    sign_in_paths=oracle.sign_in_paths,
                    read_values=oracle.read_values,
                    answers=oracle.answers,
                    window_keys=oracle.window_keys,
                    reconfigured=oracle.reconfigured,
                )
            )
    return tuple(services)


SERVICES = _services()
BODITRAX_DEMO_LINKED = ServiceUnderTest(
    name="boditrax linked",
    service="boditrax",
    menu_item="boditrax_linked",
    menu_label="Boditrax linked account (partner apps)",
    sign_in_paths=("/oauth/auth", "/oauth/token"),
    read_values=boditrax_demo_linked_values,
    answers=lambda info: {
        "linked_account": {"username": DEMO_LINKED_USERNAME, "password": DEMO_LINKED_SECRET}
    },
    reconfigured=LINKED_RECONFIGURED,
)
"""The demo's second member, behind its own linked account (a member the browser does not log in)."""
SERVICES_BY_NAME = {service.name: service for service in SERVICES}
