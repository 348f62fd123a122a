"""What every fake service shares: a real aiohttp server on 127.0.0.1, a request log and faults."""

from __future__ import annotations

import asyncio
import bisect
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import functools
import json
import secrets
from typing import Any, ClassVar
import zlib

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Rewrite = Callable[[Any], Any]
"""Turns the JSON of a real answer into what the fake sends instead (see ``Fault.rewrite``)."""
Chunks = Callable[[], Iterable[bytes]]
"""Makes the pieces of a body sent chunked, without ``Content-Length`` (see ``Fault.chunks``)."""


HISTORY_SEED = 2026
"""The seed of every history ``seed_history`` makes: the same call gives the same records."""
HISTORY_GAP = timedelta(days=1)
"""A seeded history ends this long before now, so that records added afterwards are new."""


class RawJSON(str):
    """A JSON fragment written as it is: ``1e999``, ``NaN``, text ``json.dumps`` cannot produce."""


def dump_json(value: Any) -> str:
    """``json.dumps``, with every ``RawJSON`` in ``value`` written verbatim."""
    fragments: list[str] = []
    marker = f"raw-json-{secrets.token_hex(8)}-"

    def mark(item: Any) -> Any:
        if isinstance(item, RawJSON):
            fragments.append(str(item))
            return f"{marker}{len(fragments) - 1}"
        if isinstance(item, dict):
            return {key: mark(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [mark(inner) for inner in item]
        return item

    text = json.dumps(mark(value))
    for index, fragment in enumerate(fragments):
        text = text.replace(json.dumps(f"{marker}{index}"), fragment)
    return text


def json_answer(value: Any, status: int = 200) -> web.Response:
    """A JSON response written by ``dump_json``."""
    return web.Response(status=status, text=dump_json(value), content_type="application/json")


# -- hostile answers, for Fault bodies and rewrites --------------------------------------------


def deep_json(depth: int = 100_000) -> str:
    """Valid JSON nested ``depth`` arrays deep: Python's decoder gives up with RecursionError."""
    return "[" * depth + "]" * depth


def huge_json(size: int, chunk: int = 64 * 1024) -> Chunks:
    """A valid JSON object of ``size`` bytes (mostly whitespace), made piece by piece when sent."""
    head, tail = b'{"items": [', b"]}"

    def pieces() -> Iterator[bytes]:
        yield head
        left = size - len(head) - len(tail)
        blank = b" " * chunk
        while left > 0:
            yield blank[: min(chunk, left)]
            left -= chunk
        yield tail

    return pieces


@functools.cache
def gzip_bomb(inflated: int) -> bytes:
    """A gzip body that inflates to ``inflated`` bytes of a valid JSON object (whitespace inside).

    Send it with ``Content-Encoding: gzip``: 128 MB take about 125 KB on the wire. Built once per
    size, without ever holding the inflated text.
    """
    head, tail = b'{"items": [', b"]}"
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(head)]
    blank = b" " * (1024 * 1024)
    left = inflated - len(head) - len(tail)
    while left > 0:
        parts.append(packer.compress(blank[: min(len(blank), left)]))
        left -= len(blank)
    parts += [packer.compress(tail), packer.flush()]
    return b"".join(parts)


def numbers_as_strings(value: Any) -> Any:
    """A rewrite: every number in the answer as a string (``7200`` → ``"7200"``), booleans kept."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return {key: numbers_as_strings(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [numbers_as_strings(inner) for inner in value]
    return value


def lengthen(text: str, length: int = 300) -> str:
    """``text``, a space and ``x`` up to ``length`` characters: the same long text every time."""
    return (text + " ").ljust(length, "x")


def long_texts(*keys: str, length: int = 300) -> Rewrite:
    """A rewrite: the text under any of ``keys``, anywhere in the answer, ``length`` characters long."""

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: lengthen(inner, length)
                if key in keys and isinstance(inner, str)
                else rewrite(inner)
                for key, inner in value.items()
            }
        if isinstance(value, list):
            return [rewrite(inner) for inner in value]
        return value

    return rewrite


# -- histories, newest first ---------------------------------------------------------------------


def _age(when: Callable[[Any], datetime]) -> Callable[[Any], float]:
    """A sort key that ascends along a list kept newest first (``bisect`` wants ascending)."""
    return lambda item: -when(item).timestamp()


def insert_newest_first[T](
    records: list[T], record: T, when: Callable[[T], datetime], *, before_same: bool = True
) -> None:
    """Put ``record`` into ``records`` (newest first) at its instant.

    Among records of the same instant it goes first (it is the newer), or, with ``before_same``
    false, last (a service that lists them in the order they were uploaded). A binary search and
    one insertion, so adding to a history of 50,000 does not sort it again.
    """
    insort = bisect.insort_left if before_same else bisect.insort_right
    insort(records, record, key=_age(when))


def newest_first_between[T](
    records: Sequence[T],
    when: Callable[[T], datetime],
    earliest: datetime | None,
    latest: datetime | None,
) -> range:
    """The indexes of ``records`` (newest first) measured from ``earliest`` to ``latest``.

    Both ends are included; None leaves that side open. Two binary searches: no request walks
    the history.
    """
    key = _age(when)
    start = 0 if latest is None else bisect.bisect_left(records, -latest.timestamp(), key=key)
    stop = (
        len(records)
        if earliest is None
        else bisect.bisect_right(records, -earliest.timestamp(), key=key)
    )
    return range(start, max(start, stop))


def seeded_period(years: float) -> tuple[datetime, timedelta]:
    """When a seeded history ends (a day ago) and how far back from there it may reach.

    Its oldest record then lies at most ``years`` before now.
    """
    return datetime.now(UTC) - HISTORY_GAP, timedelta(days=365 * years) - HISTORY_GAP


def squeeze(now: datetime, oldest: datetime, span: timedelta) -> Callable[[datetime], datetime]:
    """Moves instants toward ``now`` so that ``oldest`` lies at most ``span`` back, order kept.

    A seeded history made at its natural pace (a workout every two days) fits into the years
    asked for; when it fits already, instants stay where they are.
    """
    factor = min(1.0, span / (now - oldest)) if now > oldest else 1.0
    return lambda moment: (now - (now - moment) * factor).replace(microsecond=0)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, for tests that count or inspect traffic."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class AddedRecord:
    """A record a fake added on request: the service's id for it, when it was measured, in words."""

    id: str
    measured_at: datetime
    description: str


@dataclass
class Fault:
    """A misbehaviour to serve instead of the real answer.

    ``status`` with ``body`` (text, or bytes sent as they are: a gzip bomb with its
    ``Content-Encoding`` header, say) replaces the response; with ``chunks`` instead, the body is
    sent chunked, without ``Content-Length``, as the pieces are made (``sent`` counts the bytes
    that went out before the client hung up). ``drop`` closes the connection without answering.
    ``rewrite`` lets the service answer, then sends its JSON rewritten (numbers as strings, long
    texts); error answers pass unchanged. ``delay`` holds any of these back first, or the real
    answer when there is nothing else. ``carried_out``: the service does what was asked first
    (stores an upload), then misbehaves, so the answer is lost, not the write. ``times`` limits how many requests are affected (None:
    until cleared); ``scope``, ``path``, ``method`` and ``query`` limit which.
    """

    status: int | None = None
    body: str | bytes = ""
    content_type: str = "application/json"
    delay: float = 0.0
    times: int | None = None
    scope: str = "api"
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    chunks: Chunks | None = None
    rewrite: Rewrite | None = None
    query: dict[str, str] = field(default_factory=dict)
    """Only requests whose query holds these parameters."""
    method: str | None = None
    """Only requests with this method (an upload, not the list at the same path)."""
    carried_out: bool = False
    sent: int = 0
    """Body bytes written for this fault so far (``chunks`` only)."""

    def take(self) -> bool:
        """Use up one occurrence; False once the fault is spent."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class FakeService:
    """Base of every fake: subclasses add routes in ``setup_routes`` and tag token routes."""

    service: ClassVar[str]
    name: ClassVar[str]
    host: str = "127.0.0.1"
    port: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    """Where the seeded histories end (a little before it): the same instant gives the same records."""
    requests: list[RecordedRequest] = field(default_factory=list)
    endpoint_counts: Counter[str] = field(default_factory=Counter)
    """Requests received per endpoint, ``"GET /api/v2/fitnessActivities/{id}"``: for benchmarks."""
    faults: list[Fault] = field(default_factory=list)
    held: int = 0
    """Requests a ``delay`` fault is holding back right now."""
    outage: Fault | None = None
    """The 503 every data request gets while the service is down (``set_down``)."""
    journal: list[dict[str, Any]] | None = None
    """Where writes through the API are noted (``{"service", "account", "write", "body"}``), so
    that doing them again (``write_again``) after a restart stores the same; None: not noted."""
    _runner: web.AppRunner | None = field(default=None, init=False, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    @property
    def origin(self) -> str:
        """Scheme, host and port the integration should use instead of the real origin."""
        return f"http://{self.host}:{self.port}"

    def fault_scope(self, path: str) -> str:
        """Which faults apply to a path: "api" here; OAuth services add "token"."""
        return "api"

    def setup_routes(self, app: web.Application) -> None:
        """Add the service's routes."""
        raise NotImplementedError

    def note_write(self, account: str, write: str, body: Any) -> None:
        """A write through the API was stored: note it, where a journal is kept."""
        if self.journal is not None:
            self.journal.append(
                {"service": self.service, "account": account, "write": write, "body": body}
            )

    def write_again(self, account: str, write: str, body: Any) -> None:
        """Store a noted write again, as its request did."""
        raise NotImplementedError(f"{self.name} takes no writes")

    def fail(
        self,
        status: int | None = None,
        body: str | bytes = "",
        *,
        content_type: str = "application/json",
        delay: float = 0.0,
        times: int | None = None,
        scope: str = "api",
        path: str | None = None,
        headers: dict[str, str] | None = None,
        drop: bool = False,
        chunks: Chunks | None = None,
        rewrite: Rewrite | None = None,
        query: dict[str, str] | None = None,
        method: str | None = None,
        carried_out: bool = False,
    ) -> Fault:
        """Switch a fault on (see ``Fault``); returns it so a test can remove it alone."""
        fault = Fault(
            status,
            body,
            content_type,
            delay,
            times,
            scope,
            path,
            headers or {},
            drop=drop,
            chunks=chunks,
            rewrite=rewrite,
            query=query or {},
            method=method,
            carried_out=carried_out,
        )
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Behave again (up again too, after ``set_down``)."""
        self.faults.clear()
        self.outage = None

    def set_down(self, down: bool) -> None:
        """Answer every data request with 503, as a service down for maintenance; or stop that.

        Sign-in and token requests still work, so only the data is missing.
        """
        if self.outage is not None and self.outage in self.faults:
            self.faults.remove(self.outage)
        self.outage = self.fail(503, '{"error": "service unavailable"}') if down else None

    def count(self, path_prefix: str = "", method: str | None = None) -> int:
        """How many requests were received whose path starts with ``path_prefix``."""
        return sum(
            1
            for request in self.requests
            if request.path.startswith(path_prefix) and method in (None, request.method)
        )

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        self.endpoint_counts[f"{request.method} {path}"] += 1
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers), body
            )
        )
        scope = self.fault_scope(request.path)
        for fault in list(self.faults):
            if (
                fault.scope != scope
                or fault.path not in (None, request.path)
                or fault.method not in (None, request.method)
                or any(request.query.get(key) != value for key, value in fault.query.items())
                or not fault.take()
            ):
                continue
            if fault.carried_out:
                await handler(request)
            if fault.delay:
                await self._hold(fault.delay)
            if fault.drop:
                return self._drop(request)
            if fault.status is not None and fault.chunks is not None:
                return await self._stream(request, fault, fault.chunks)
            if fault.status is not None:
                payload = fault.body if isinstance(fault.body, bytes) else fault.body.encode()
                return web.Response(
                    status=fault.status,
                    body=payload,
                    content_type=fault.content_type,
                    headers=fault.headers,
                )
            if fault.rewrite is not None:
                return self._rewritten(await handler(request), fault.rewrite)
            break
        return await handler(request)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection without a word; the response returned is never written."""
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)

    @staticmethod
    async def _stream(request: web.Request, fault: Fault, chunks: Chunks) -> web.StreamResponse:
        """Send the fault's body chunked, as it is made, until done or the client hangs up."""
        response = web.StreamResponse(status=fault.status or 200, headers=fault.headers)
        response.content_type = fault.content_type
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for piece in chunks():
                await response.write(piece)
                fault.sent += len(piece)
        except ConnectionError:
            pass  # the client stopped reading: that is the point
        return response

    @staticmethod
    def _rewritten(response: web.StreamResponse, rewrite: Rewrite) -> web.StreamResponse:
        """A successful JSON answer with its JSON rewritten; anything else as it was."""
        if (
            not isinstance(response, web.Response)
            or not 200 <= response.status < 300
            or response.content_type != "application/json"
            or not isinstance(response.body, bytes)
        ):
            return response
        answer = json_answer(rewrite(json.loads(response.body)), response.status)
        for name in ("Retry-After", "Cache-Control"):
            if name in response.headers:
                answer.headers[name] = response.headers[name]
        return answer

    async def _hold(self, delay: float) -> None:
        """Hold a request back; stopping the fake releases it at once."""
        self.held += 1
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            pass
        finally:
            self.held -= 1

    async def start(self) -> None:
        """Listen on ``host``:``port`` (a free port when 0)."""
        app = web.Application(middlewares=[self._middleware])
        self.setup_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the listening socket and every open connection."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._stopping = asyncio.Event()
