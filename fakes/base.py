"""What every fake service shares: a real aiohttp server on 127.0.0.1, a request log and faults."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, for tests that count or inspect traffic."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Fault:
    """A misbehaviour to serve instead of the real answer.

    ``status`` with ``body`` (text, or bytes sent as they are: a gzip bomb with its
    ``Content-Encoding`` header, say) replaces the response; ``delay`` holds it back first;
    ``times`` limits how many requests are affected (None: until cleared); ``scope`` and
    ``path`` limit which.
    """

    status: int | None = None
    body: str | bytes = ""
    content_type: str = "application/json"
    delay: float = 0.0
    times: int | None = None
    scope: str = "api"
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

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
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    held: int = 0
    """Requests a ``delay`` fault is holding back right now."""
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
    ) -> Fault:
        """Switch a fault on (see ``Fault``); returns it so a test can remove it alone."""
        fault = Fault(status, body, content_type, delay, times, scope, path, headers or {})
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Behave again."""
        self.faults.clear()

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
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers), body
            )
        )
        scope = self.fault_scope(request.path)
        for fault in list(self.faults):
            if fault.scope != scope or fault.path not in (None, request.path) or not fault.take():
                continue
            if fault.delay:
                await self._hold(fault.delay)
            if fault.status is not None:
                payload = fault.body if isinstance(fault.body, bytes) else fault.body.encode()
                return web.Response(
                    status=fault.status,
                    body=payload,
                    content_type=fault.content_type,
                    headers=fault.headers,
                )
            break
        return await handler(request)

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
