"""Run every fake service until interrupted: ``python -m fakes serve [--ready-file PATH]``.

Each service listens on its own free port on 127.0.0.1. Once all listen, the ready file (and
stdout) gets JSON ``{service: {origin, client_id, client_secret, name}}`` for the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path
import signal

from . import FAKE_SERVICES, FakeService
from .oauth2 import OAuth2Service


def describe(fake: FakeService) -> dict[str, str]:
    """What a client needs to reach a fake: its origin and, for OAuth 2.0, the demo app."""
    info = {"origin": fake.origin, "name": fake.name}
    if isinstance(fake, OAuth2Service):
        client = next(iter(fake.clients.values()))
        info |= {"client_id": client.client_id, "client_secret": client.client_secret}
    return info


async def serve(host: str, ready_file: Path | None) -> None:
    """Start all fakes, announce them, and stop them on SIGINT/SIGTERM."""
    fakes = [factory(host=host) for factory in FAKE_SERVICES.values()]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for fake in fakes:
            await fake.start()
        summary = json.dumps({fake.service: describe(fake) for fake in fakes}, indent=2)
        if ready_file is not None:
            await asyncio.to_thread(ready_file.write_text, summary)
        print(summary, flush=True)
        await stop.wait()
    finally:
        for fake in fakes:
            await fake.stop()


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
