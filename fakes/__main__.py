"""Run every fake service until interrupted: ``python -m fakes serve [--ready-file PATH]``.

Each service listens on its own free port on 127.0.0.1. Once all listen, the ready file (and
stdout) gets JSON ``{service: {origin, name, control, ...}}`` for the demo; ``...`` is the demo
app's ``client_id`` and ``client_secret`` (OAuth 2.0) or ``consumer_key`` and ``consumer_secret``
(OAuth 1.0a). ``control`` is the service's control endpoint (always on 127.0.0.1), through which
a test in another process sees the requests the fake received and revokes its tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path
import signal
from typing import Protocol, runtime_checkable

from aiohttp import web

from . import FAKE_SERVICES, FakeService
from .oauth1 import OAuth1Service
from .oauth2 import OAuth2Service

CONTROL_HOST = "127.0.0.1"


@runtime_checkable
class _Revocable(Protocol):
    def revoke(self) -> None: ...


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


def control_app(fakes: list[FakeService]) -> web.Application:
    """``GET /<service>/requests``: what the fake received; ``POST /<service>/revoke``: revoke all."""
    by_service = {fake.service: fake for fake in fakes}

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
        fake.revoke()
        return web.json_response({"revoked": fake.service})

    app = web.Application()
    app.router.add_get("/{service}/requests", requests)
    app.router.add_post("/{service}/revoke", revoke)
    return app


async def serve(host: str, ready_file: Path | None) -> None:
    """Start all fakes and their control endpoint, announce them, stop on SIGINT/SIGTERM."""
    fakes = [factory(host=host) for factory in FAKE_SERVICES.values()]
    control = web.AppRunner(control_app(fakes), access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await control.setup()
        await web.TCPSite(control, CONTROL_HOST, 0).start()
        control_origin = f"http://{CONTROL_HOST}:{control.addresses[0][1]}"
        for fake in fakes:
            await fake.start()
        summary = json.dumps(
            {fake.service: describe(fake, control_origin) for fake in fakes}, indent=2
        )
        if ready_file is not None:
            await asyncio.to_thread(ready_file.write_text, summary)
        print(summary, flush=True)
        await stop.wait()
    finally:
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
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.ready_file))


if __name__ == "__main__":
    main()
