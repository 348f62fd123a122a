"""Run every fake service until interrupted: ``python -m fakes serve [--ready-file PATH]``.

Each service listens on its own free port on 127.0.0.1. Once all listen, the ready file (and
stdout) gets JSON ``{service: {origin, name, control, ...}}`` for the demo; ``...`` is the demo
app's ``client_id`` and ``client_secret`` (OAuth 2.0) or ``consumer_key`` and ``consumer_secret``
(OAuth 1.0a). ``control`` is the service's control endpoint (always on 127.0.0.1), through which
a test in another process sees the requests the fake received, revokes its tokens, adds records
and switches faults on and off.

``serve`` sets up the demo's world: besides each fake's default account (the one the tests use),
a second account per service (``add_demo_accounts``): a second SportTracks user, a second
BACtrack user, and a second Boditrax member reached through a linked account. The control
endpoint says who they are and switches who is signed in on a service's sign-in page; its page,
``GET /`` on the control origin, does the same for a person trying the demo.

For benchmarks (``scripts/bench``), the control endpoint also replaces an account's history by
a big seeded one and counts the requests each endpoint of a fake received.

``--state-file PATH`` keeps what the fakes must remember between runs for a kept demo: the
instant their histories were seeded at and what the control endpoint changed since (``Changes``),
so they serve the same records again; the tokens they issued, who is signed in, whether Boditrax
echoes ``state``, and their ports. It is read at the start and written while they run and when
they stop.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
import html
import json
import logging
from pathlib import Path
import signal
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

from aiohttp import web

from . import FAKE_SERVICES, AddedRecord, FakeService, Fault
from .boditrax import FakeBoditrax
from .oauth1 import OAuth1Service, _Credential
from .oauth2 import OAuth2Service, _Grant

CONTROL_HOST = "127.0.0.1"
SAVE_SECONDS = 5.0
"""How often the state file is brought up to date while the fakes run."""
_LOGGER = logging.getLogger("fakes")


@runtime_checkable
class _Revocable(Protocol):
    def revoke(self, user_id: str | None = None) -> None: ...


@runtime_checkable
class _Demo(Protocol):
    """What each fake offers the demo and the acceptance suite.

    Its second account, new data on request, and the records an account holds.
    """

    def add_demo_accounts(self) -> None: ...

    def add_record(self, account: str, measured_at: datetime | None = None) -> AddedRecord: ...

    def records_of(self, account: str) -> Sequence[Any]: ...


@runtime_checkable
class _Measured(Protocol):
    """A fake whose accounts hold series of measurements (SportTracks' health metrics)."""

    def measurements_of(self, account: str) -> dict[str, list[tuple[str, float]]]: ...


@runtime_checkable
class _History(Protocol):
    """A fake whose accounts' generated history can be moved back in time (Boditrax's)."""

    def history_ending(self, account: str, days_ago: float) -> str: ...


@runtime_checkable
class _Seeded(Protocol):
    """What each fake offers a benchmark: a big history, made in a moment."""

    def seed_history(self, account: str, count: int, years: float) -> str: ...


type _SignIn = OAuth2Service | OAuth1Service
"""A fake with a sign-in page and someone signed in on it."""

RECORD_NAMES = {"sporttracks": "workout", "boditrax": "scan", "bactrack": "reading"}
"""What ``add_record`` adds, in the control page's buttons."""


def describe(fake: FakeService, control_origin: str) -> dict[str, str]:
    """What a client needs to reach a fake: its origin, its control endpoint, the demo app."""
    info = {"origin": fake.origin, "name": fake.name, "control": f"{control_origin}/{fake.service}"}
    if isinstance(fake, OAuth2Service):
        client = next(iter(fake.clients.values()))
        info |= {"client_id": client.client_id, "client_secret": client.client_secret}
    elif isinstance(fake, OAuth1Service):
        consumer = next(iter(fake.consumers.values()))
        info |= {"consumer_key": consumer.key, "consumer_secret": consumer.secret}
    return info


def accounts(fake: FakeService) -> dict[str, Any]:
    """Who can sign in, who is signed in on the sign-in page, and the linked accounts.

    ``{"signed_in": id, "accounts": [{"id", "name", "linked": [{"username", "secret"}]}]}``,
    plus ``"echo_state"`` for OAuth 2.0 services.
    """
    if not isinstance(fake, OAuth2Service | OAuth1Service):
        return {"signed_in": None, "accounts": []}
    linked: dict[str, dict[str, str]] = {}
    if isinstance(fake, FakeBoditrax):
        linked = {member.id: member.linked for member in fake.members.values()}
    answer: dict[str, Any] = {
        "signed_in": fake.current_user,
        "accounts": [
            {
                "id": account_id,
                "name": name,
                "linked": [
                    {"username": username, "secret": secret}
                    for username, secret in linked.get(account_id, {}).items()
                ],
            }
            for account_id, name in fake.users().items()
        ],
    }
    if isinstance(fake, OAuth2Service):
        answer["echo_state"] = fake.echo_state
    return answer


def accounts_of(fake: FakeService) -> dict[str, str]:
    """Account id → display name; none for a fake without sign-in."""
    return fake.users() if isinstance(fake, OAuth2Service | OAuth1Service) else {}


def sign_in_as(fake: FakeService, account: str) -> None:
    """Make ``account`` the one signed in on the fake's sign-in page."""
    if not isinstance(fake, OAuth2Service | OAuth1Service) or account not in fake.users():
        raise web.HTTPNotFound(text=f"no account {account!r} at {fake.name}")
    fake.current_user = account


def move_history(fake: FakeService, fields: dict[str, Any]) -> str:
    """Move ``fields["account"]``'s generated history ``fields["days_ago"]`` days back; say so."""
    account = str(fields.get("account", ""))
    if not isinstance(fake, _History):
        raise web.HTTPNotFound(text=f"{fake.name} keeps its history where it is")
    try:
        return fake.history_ending(account, float(fields.get("days_ago", 0)))
    except KeyError:
        raise web.HTTPNotFound(text=f"no generated history of {account!r}") from None
    except (ValueError, OverflowError):
        raise web.HTTPBadRequest(text="days_ago is a number of days") from None


@dataclass
class Changes:
    """When the fakes' histories were seeded, and the records added and histories moved since.

    The same instant seeds the same records; doing the changes again in order adds the same
    records with the same ids. So a kept demo's fakes serve after a restart what they served
    before it: no value goes back, no record comes back with a new time.
    """

    seeded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    done: list[dict[str, Any]] = field(default_factory=list)
    """``{"service", "account", "measured_at"}`` (a record added), ``{…, "days_ago"}`` (a history
    moved) or ``{…, "write", "body"}`` (a write through the API: ``FakeService.note_write``)."""

    def world(self, host: str = CONTROL_HOST) -> list[FakeService]:
        """Every fake as ``serve`` makes it: seeded at ``seeded_at``, the changes done again."""
        fakes = [factory(host=host, now=self.seeded_at) for factory in FAKE_SERVICES.values()]
        for fake in fakes:
            if isinstance(fake, _Demo):
                fake.add_demo_accounts()
        by_service = {fake.service: fake for fake in fakes}
        for change in self.done:
            try:
                found, account = by_service[str(change["service"])], str(change["account"])
                if "days_ago" in change and isinstance(found, _History):
                    found.history_ending(account, float(change["days_ago"]))
                elif "write" in change:
                    found.write_again(account, str(change["write"]), change.get("body"))
                elif isinstance(found, _Demo):
                    found.add_record(account, datetime.fromisoformat(change["measured_at"]))
            except (KeyError, TypeError, ValueError, NotImplementedError) as err:
                _LOGGER.warning("not done again: %s (%s)", change, err)
        for fake in fakes:
            fake.journal = self.done  # from now on, writes through the API are kept too
        return fakes

    def as_dict(self) -> dict[str, Any]:
        """As the state file keeps it."""
        return {"seeded_at": self.seeded_at.isoformat(), "done": list(self.done)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Changes:
        """What the state file kept; a new seed if it kept nothing readable."""
        kept = state.get("changes")
        if not isinstance(kept, dict):
            return cls()
        try:
            seeded_at = datetime.fromisoformat(kept["seeded_at"])
        except (KeyError, TypeError, ValueError):
            return cls()
        done = kept.get("done")
        return cls(
            seeded_at,
            [item for item in done if isinstance(item, dict)] if isinstance(done, list) else [],
        )


def _number(fields: dict[str, Any], name: str, default: float) -> float:
    """A positive number from a control request's fields; a 400 for anything else."""
    try:
        value = float(fields.get(name, default))
    except (TypeError, ValueError):
        value = -1
    if not value > 0:
        raise web.HTTPBadRequest(text=f"{name} must be a positive number")
    return value


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() in ("1", "true", "on", "yes")


async def _fields(request: web.Request) -> dict[str, Any]:
    """A control request's fields, from JSON or a form (the control page posts forms)."""
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return body
    return dict(await request.post())


def _instant(value: object) -> datetime | None:
    """An ISO 8601 time with an offset from a control request; None when absent."""
    if value is None or value == "":
        return None
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise web.HTTPBadRequest(text=f"not an ISO 8601 time with an offset: {value!r}")
    return instant


def _optional_int(fields: dict[str, Any], name: str) -> int | None:
    value = fields.get(name)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise web.HTTPBadRequest(text=f"{name} is a whole number or null")


def fault_of(fields: dict[str, Any]) -> dict[str, Any]:
    """``FakeService.fail``'s arguments from a control request (``Fault``'s fields)."""
    delay, headers = fields.get("delay", 0), fields.get("headers") or {}
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise web.HTTPBadRequest(text="delay is a number of seconds")
    if not isinstance(headers, dict) or not all(
        isinstance(value, str) for value in headers.values()
    ):
        raise web.HTTPBadRequest(text="headers is an object of texts")
    return {
        "status": _optional_int(fields, "status"),
        "body": str(fields.get("body", "")),
        "content_type": str(fields.get("content_type", "application/json")),
        "delay": float(delay),
        "times": _optional_int(fields, "times"),
        "scope": str(fields.get("scope", "api")),
        "path": None if fields.get("path") is None else str(fields["path"]),
        "method": None if fields.get("method") is None else str(fields["method"]).upper(),
        "headers": headers,
        "drop": fields.get("drop") is True,
        "carried_out": fields.get("carried_out") is True,
    }


def faults_of(fake: FakeService) -> dict[str, Any]:
    """The fake's faults still switched on, and how many requests a delay holds back now."""

    def shown(fault: Fault) -> dict[str, Any]:
        return {
            "status": fault.status,
            "delay": fault.delay,
            "times": fault.times,
            "scope": fault.scope,
            "path": fault.path,
        }

    return {"faults": [shown(fault) for fault in fake.faults], "held": fake.held}


def _answer(request: web.Request, result: dict[str, Any], said: str) -> web.Response:
    """JSON for programs; the control page's form posts go back to the page, which says ``said``."""
    if request.content_type != "application/x-www-form-urlencoded":
        return web.json_response(result)
    raise web.HTTPSeeOther(f"/?{urlencode({'said': said})}")


def control_app(fakes: list[FakeService], changes: Changes | None = None) -> web.Application:
    """The control endpoint of the fakes, per service, and its page for people.

    Records added and histories moved go into ``changes``.

    - ``GET /<service>/requests``: what the fake received; ``POST /<service>/revoke``: revoke all
    - ``GET /<service>/accounts``: see ``accounts``
    - ``POST /<service>/sign-in`` ``{"account": id}``: who the sign-in page signs in
    - ``POST /<service>/records`` ``{"account": id, "measured_at": iso}``: new data for the
      account, measured at that time (in its offset, as far as the service writes offsets) or
      now; answers its ``id``, ``measured_at`` and what was ``added``
    - ``GET /<service>/records?account=<id>``: every record of the account as the fake holds it
      (its fields, times in ISO 8601), newest first: what the account's history should become
    - ``GET /<service>/measurements?account=<id>``: its series (SportTracks' health metrics) as
      the API holds them, ``{"weight": [["2026-11-19T07:30:00Z", 80.4], …], …}``
    - ``POST /<service>/faults`` with ``Fault``'s fields (``status``, ``body``,
      ``content_type``, ``delay``, ``times``, ``scope``, ``path``, ``method``, ``headers``,
      ``drop``, ``carried_out``):
      switch a fault on; ``DELETE``: all off (up again if down); ``GET``: the faults left
      (``times`` counts down) and the requests ``held``
    - ``POST /<service>/seed`` ``{"account": id, "count": n, "years": y}``: the account's
      history replaced by ``count`` seeded records going back at most ``years`` (default 10)
    - ``GET /<service>/stats``: ``{"requests": {"GET /path/{id}": n, ...}}``, requests per endpoint
    - ``POST /<service>/echo-state`` ``{"echo_state": false}``: an OAuth 2.0 service sends
      the browser back without ``state`` (true: with it again)
    - ``POST /<service>/down`` ``{"down": true}``: every data request gets 503 (false: served again)
    - ``POST /<service>/history`` ``{"account": id, "days_ago": 30}``: the account's generated
      records moved that far back, added ones kept (Boditrax; 0: back in place; not on the page)
    - ``GET /changes``: ``{"done": [...]}``, the records added and histories moved, in order
      (``Changes``): the demo polls an account in Home Assistant when a record is added to it
    - ``GET /``: a page showing all this, with buttons
    """
    by_service = {fake.service: fake for fake in fakes}
    changes = changes if changes is not None else Changes()

    def fake_of(request: web.Request) -> FakeService:
        if (fake := by_service.get(request.match_info["service"])) is None:
            raise web.HTTPNotFound(text="no such fake")
        return fake

    async def requests(request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "method": received.method,
                    "path": received.path,
                    "query": received.query,
                    "body": received.body.decode(errors="replace"),
                }
                for received in fake_of(request).requests
            ]
        )

    async def revoke(request: web.Request) -> web.Response:
        fake = fake_of(request)
        if not isinstance(fake, _Revocable):
            raise web.HTTPNotFound(text="this fake has no tokens to revoke")
        account = str((await _fields(request)).get("account", ""))
        fake.revoke(account or None)
        whose = accounts_of(fake).get(account, "everyone")
        return _answer(
            request,
            {"revoked": fake.service},
            f"{fake.name} no longer accepts the sign-in of {whose}. Home Assistant asks to"
            " re-authenticate at its next request to it (Settings > Devices & services, or"
            " Reload the account to see it now).",
        )

    async def get_accounts(request: web.Request) -> web.Response:
        return web.json_response(accounts(fake_of(request)))

    async def sign_in(request: web.Request) -> web.Response:
        fake = fake_of(request)
        account = str((await _fields(request)).get("account", ""))
        sign_in_as(fake, account)
        name = accounts_of(fake)[account]
        return _answer(request, accounts(fake), f"{fake.name}'s sign-in page now signs in {name}.")

    async def history(request: web.Request) -> web.Response:
        fake, fields = fake_of(request), await _fields(request)
        moved = move_history(fake, fields)
        changes.done.append(
            {
                "service": fake.service,
                "account": str(fields.get("account", "")),
                "days_ago": float(fields.get("days_ago", 0)),
            }
        )
        return _answer(request, {"history": moved}, f"Moved {moved}.")

    async def changed(request: web.Request) -> web.Response:
        return web.json_response({"done": changes.done})

    async def echo_state(request: web.Request) -> web.Response:
        fake = fake_of(request)
        if not isinstance(fake, OAuth2Service):
            raise web.HTTPNotFound(text="only OAuth 2.0 services send state back")
        fake.echo_state = _truthy((await _fields(request)).get("echo_state"))
        return _answer(
            request,
            {"echo_state": fake.echo_state},
            f"{fake.name} sends the browser back {'with' if fake.echo_state else 'without'} state.",
        )

    async def down(request: web.Request) -> web.Response:
        fake = fake_of(request)
        fake.set_down(_truthy((await _fields(request)).get("down")))
        down = fake.outage is not None
        return _answer(
            request,
            {"down": down},
            f"{fake.name} {'answers every data request with 503' if down else 'is back up'}.",
        )

    async def page(request: web.Request) -> web.Response:
        said = request.query.get("said", "")
        return web.Response(text=control_page(fakes, said), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/{service}/requests", requests)
    app.router.add_post("/{service}/revoke", revoke)
    app.router.add_get("/{service}/accounts", get_accounts)
    app.router.add_post("/{service}/sign-in", sign_in)
    app.router.add_post("/{service}/history", history)
    app.router.add_get("/changes", changed)
    app.router.add_post("/{service}/echo-state", echo_state)
    app.router.add_post("/{service}/down", down)
    _add_record_routes(app, fake_of, changes)
    _add_fault_routes(app, fake_of)
    _add_benchmark_routes(app, fake_of)
    return app


def _add_record_routes(
    app: web.Application, fake_of: Callable[[web.Request], FakeService], changes: Changes
) -> None:
    """``/<service>/records``: add one of an account (POST), list the account's (GET)."""

    def demo_account(fake: FakeService, account: str) -> _Demo:
        if account not in accounts_of(fake) or not isinstance(fake, _Demo):
            raise web.HTTPNotFound(text=f"no account {account!r} at {fake.name}")
        return fake

    async def records(request: web.Request) -> web.Response:
        fake = fake_of(request)
        fields = await _fields(request)
        account = str(fields.get("account", ""))
        try:
            added = demo_account(fake, account).add_record(
                account, _instant(fields.get("measured_at"))
            )
        except ValueError as err:
            raise web.HTTPBadRequest(text=str(err)) from err
        changes.done.append(
            {
                "service": fake.service,
                "account": account,
                "measured_at": added.measured_at.isoformat(),
            }
        )
        return _answer(
            request,
            {
                "added": added.description,
                "id": added.id,
                "measured_at": added.measured_at.isoformat(),
            },
            f"Added {added.description}. scripts/demo has Home Assistant poll the account now"
            " (without it, the sensors show it at the account's next poll).",
        )

    async def list_records(request: web.Request) -> web.Response:
        account = request.query.get("account", "")
        held = demo_account(fake_of(request), account).records_of(account)
        return web.json_response(
            [asdict(record) for record in held], dumps=partial(json.dumps, default=_iso)
        )

    async def list_measurements(request: web.Request) -> web.Response:
        fake, account = fake_of(request), request.query.get("account", "")
        if not isinstance(fake, _Measured) or account not in accounts_of(fake):
            raise web.HTTPNotFound(text=f"no measurements of {account!r} at {fake.name}")
        return web.json_response(fake.measurements_of(account))

    app.router.add_post("/{service}/records", records)
    app.router.add_get("/{service}/records", list_records)
    app.router.add_get("/{service}/measurements", list_measurements)


def _add_fault_routes(app: web.Application, fake_of: Callable[[web.Request], FakeService]) -> None:
    """``/<service>/faults``: switch a fault on (POST), see what is left (GET), all off (DELETE)."""

    async def add_fault(request: web.Request) -> web.Response:
        fake = fake_of(request)
        fake.fail(**fault_of(await _fields(request)))
        return web.json_response(faults_of(fake))

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(faults_of(fake_of(request)))

    async def clear_faults(request: web.Request) -> web.Response:
        fake = fake_of(request)
        fake.clear_faults()
        return web.json_response(faults_of(fake))

    app.router.add_get("/{service}/faults", get_faults)
    app.router.add_post("/{service}/faults", add_fault)
    app.router.add_delete("/{service}/faults", clear_faults)


def _add_benchmark_routes(
    app: web.Application, fake_of: Callable[[web.Request], FakeService]
) -> None:
    """``POST /<service>/seed``: a seeded history; ``GET /<service>/stats``: requests counted."""

    async def seed(request: web.Request) -> web.Response:
        fake = fake_of(request)
        fields = await _fields(request)
        account = str(fields.get("account", ""))
        if account not in accounts_of(fake) or not isinstance(fake, _Seeded):
            raise web.HTTPNotFound(text=f"no account {account!r} at {fake.name}")
        count, years = int(_number(fields, "count", 0)), _number(fields, "years", 10)
        seeded = await asyncio.to_thread(fake.seed_history, account, count, years)
        return web.json_response({"seeded": seeded})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"requests": dict(fake_of(request).endpoint_counts)})

    app.router.add_post("/{service}/seed", seed)
    app.router.add_get("/{service}/stats", stats)


def _iso(value: object) -> str:
    """Times in a record as ISO 8601 (with their offset), for JSON."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON")
    return value.isoformat()


def _button(action: str, label: str, **fields: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    return (
        f'<form method="post" action="{action}">{hidden}'
        f'<button type="submit">{html.escape(label)}</button></form>'
    )


def control_page(fakes: list[FakeService], said: str = "") -> str:
    """The fakes for a person: accounts, who is signed in, keys, and buttons to change things.

    ``said``: what the last button did.
    """
    sections = []
    for fake in fakes:
        known = accounts(fake)
        rows = []
        for account in known["accounts"]:
            signed_in = account["id"] == known["signed_in"]
            linked = "<br>".join(
                f"external username <code>{html.escape(item['username'])}</code>, "
                f"external secret <code>{html.escape(item['secret'])}</code>"
                for item in account["linked"]
            )
            who = (
                "<b>signed in</b>"
                if signed_in
                else _button(
                    f"/{fake.service}/sign-in",
                    f"Sign in as {account['name']}",
                    account=account["id"],
                )
            )
            record = RECORD_NAMES.get(fake.service, "record")
            rows.append(
                f"<tr><td>{html.escape(account['name'])}</td>"
                f"<td><code>{html.escape(account['id'])}</code></td><td>{who}</td>"
                f"<td>{linked or '&ndash;'}</td>"
                f"<td>{_button(f'/{fake.service}/records', f'Add a {record} taken now', account=account['id'])}</td>"
                f"<td>{_button(f'/{fake.service}/revoke', 'Revoke its sign-in', account=account['id'])}</td></tr>"
            )
        state = ""
        # Only where the real service may drop it (it does not require state: Boditrax).
        if isinstance(fake, OAuth2Service) and not fake.requires_state:
            echo = known["echo_state"]
            state = (
                f"<p>Sends the browser back {'with' if echo else '<b>without</b>'} "
                f"<code>state</code>. "
                f"{_button(f'/{fake.service}/echo-state', 'Drop state' if echo else 'Send state again', echo_state=str(not echo).lower())}</p>"
            )
        down = fake.outage is not None
        outage = (
            f"<p>Answers its data requests {'with <b>503</b>' if down else 'as usual'}. "
            f"{_button(f'/{fake.service}/down', 'Back up' if down else 'Take down', down=str(not down).lower())}</p>"
        )
        keys = ", ".join(
            f"{name.replace('_', ' ')} <code>{html.escape(value)}</code>"
            for name, value in describe(fake, "").items()
            if name in ("client_id", "client_secret", "consumer_key", "consumer_secret")
        )
        sections.append(
            f"<h2>{html.escape(fake.name)} <small><code>{html.escape(fake.origin)}</code></small></h2>"
            f"<p>The app's keys: {keys}. Its sign-in page signs in whoever is <b>signed in</b> here.</p>"
            f"<table><tr><th>Account</th><th>Id</th><th>Sign-in page</th><th>Linked account</th>"
            f"<th>New data</th><th>Apps signed in</th></tr>{''.join(rows)}</table>{state}{outage}"
        )
    return f"""<!doctype html>
<html><head><title>Fake services</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;text-align:left}}
form{{display:inline}}.said{{background:#e6f4ea;border:1px solid #34a853;padding:.6em}}</style></head>
<body><h1>Fake services</h1>
{f'<p class="said">{html.escape(said)}</p>' if said else ""}
<p>The services the demo's Home Assistant talks to. Switch who is signed in before adding
another account. Add data: scripts/demo has Home Assistant poll that account at once. Revoke
an account's sign-in to see Home Assistant ask you to re-authenticate. Take a service down and
restart Home Assistant to see its sensors keep their last values until it is back up.</p>
{"".join(sections)}</body></html>"""


# -- state kept between runs ------------------------------------------------------------------


def snapshot(
    fakes: list[FakeService], control_port: int, changes: Changes | None = None
) -> dict[str, Any]:
    """What a kept demo's fakes must remember: changes, ports, who is signed in, tokens, state."""
    state: dict[str, Any] = {"ports": {"control": control_port}}
    if changes is not None:
        state["changes"] = changes.as_dict()
    for fake in fakes:
        state["ports"][fake.service] = fake.port
        kept: dict[str, Any] = {}
        if isinstance(fake, OAuth2Service):
            kept = {
                "signed_in": fake.current_user,
                "echo_state": fake.echo_state,
                "access_tokens": {key: asdict(grant) for key, grant in fake.access_tokens.items()},
                "refresh_tokens": {
                    key: asdict(grant) for key, grant in fake.refresh_tokens.items()
                },
            }
        elif isinstance(fake, OAuth1Service):
            kept = {
                "signed_in": fake.current_user,
                "access_tokens": {key: asdict(token) for key, token in fake.access_tokens.items()},
            }
        state[fake.service] = kept
    return state


def restore(fakes: list[FakeService], state: dict[str, Any]) -> None:
    """Give the fakes back what ``snapshot`` kept; tokens of unknown accounts are dropped.

    An application's own tokens (client credentials) have no account: they are kept.
    """
    for fake in fakes:
        kept = state.get(fake.service) or {}
        if not isinstance(fake, OAuth2Service | OAuth1Service):
            continue
        users = fake.users()
        if kept.get("signed_in") in users:
            fake.current_user = kept["signed_in"]
        if isinstance(fake, OAuth2Service):
            fake.echo_state = bool(kept.get("echo_state", True))
            for name, store in (
                ("access_tokens", fake.access_tokens),
                ("refresh_tokens", fake.refresh_tokens),
            ):
                for key, grant in (kept.get(name) or {}).items():
                    if grant.get("user_id") in users or grant.get("application"):
                        store[key] = _Grant(**grant)
        else:
            for key, token in (kept.get("access_tokens") or {}).items():
                if token.get("user_id") in users:
                    fake.access_tokens[key] = _Credential(**token)


def read_state(path: Path | None) -> dict[str, Any]:
    """The state file's content; nothing if there is none or it is unreadable."""
    if path is None:
        return {}
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _LOGGER.warning("ignoring the state file %s: %s", path, err)
        return {}
    return state if isinstance(state, dict) else {}


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace the state file at once, so a crash leaves the old one or the new one."""
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(json.dumps(state, indent=1))
    partial.replace(path)


async def _listen(fake: FakeService, port: int) -> None:
    """Start ``fake`` on ``port`` if it is still free, else on a free one."""
    fake.port = port
    try:
        await fake.start()
    except OSError:
        await fake.stop()
        fake.port = 0
        await fake.start()


async def _keep_state(
    path: Path, fakes: list[FakeService], control_port: int, changes: Changes
) -> None:
    """Write the state file whenever it changed, every ``SAVE_SECONDS``."""
    written = None
    while True:
        if (state := snapshot(fakes, control_port, changes)) != written:
            await asyncio.to_thread(write_state, path, state)
            written = state
        await asyncio.sleep(SAVE_SECONDS)


async def serve(host: str, ready_file: Path | None, state_file: Path | None = None) -> None:
    """Start all fakes and their control endpoint, announce them, stop on SIGINT/SIGTERM."""
    state = read_state(state_file)
    changes = Changes.from_state(state)
    fakes = changes.world(host)
    restore(fakes, state)
    ports: dict[str, int] = state.get("ports") or {}
    control = web.AppRunner(control_app(fakes, changes), access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    keeper: asyncio.Task[None] | None = None
    control_port = 0
    try:
        await control.setup()
        try:
            await web.TCPSite(control, CONTROL_HOST, ports.get("control", 0)).start()
        except OSError:
            await web.TCPSite(control, CONTROL_HOST, 0).start()
        control_port = control.addresses[0][1]
        control_origin = f"http://{CONTROL_HOST}:{control_port}"
        for fake in fakes:
            await _listen(fake, ports.get(fake.service, 0))
        if state_file is not None:
            keeper = asyncio.create_task(_keep_state(state_file, fakes, control_port, changes))
        summary = json.dumps(
            {fake.service: describe(fake, control_origin) for fake in fakes}, indent=2
        )
        if ready_file is not None:
            await asyncio.to_thread(ready_file.write_text, summary)
        print(summary, flush=True)
        await stop.wait()
    finally:
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if state_file is not None and control_port:
            write_state(state_file, snapshot(fakes, control_port, changes))
        for fake in fakes:
            await fake.stop()
        await control.cleanup()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m fakes")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run every fake service")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--ready-file", type=Path)
    serve_parser.add_argument(
        "--state-file", type=Path, help="keep tokens, sign-ins and ports here between runs"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.ready_file, args.state_file))


if __name__ == "__main__":
    main()
