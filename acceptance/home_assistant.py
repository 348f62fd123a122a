"""One Home Assistant release and the fakes, started, restarted and stopped as scripts/demo does.

As the demo, the fakes keep their state in a file (``fakes-state.json``: the seed instant, the
records added, tokens, sign-ins, ports), so they can be stopped and started again serving the
same records; and the shipped blueprints are copied into the config before every start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
import contextlib
from dataclasses import dataclass
from pathlib import Path
import shutil
import socket
import subprocess
from types import TracebackType
from typing import Any, Self

import aiohttp

from scripts.demo import (
    DOMAIN,
    HOST,
    DemoError,
    HomeAssistantWebSocket,
    Services,
    add_demo_credentials,
    connect_websocket,
    http_config,
    install_blueprints,
    noise,
    onboard,
    service_env,
    start_fakes,
    start_home_assistant,
    stop,
    wait_for_fakes,
    wait_for_home_assistant,
    wait_until_running,
)

from .logs import LogReader
from .steps import StepFailed


@dataclass(frozen=True)
class Release:
    """A Home Assistant release under test and the interpreter of the virtualenv holding it."""

    version: str
    python: str
    constraints: tuple[str, ...] = ()
    """Pins the packages Home Assistant installs at runtime must respect too (see ``env``)."""

    @property
    def year_month(self) -> tuple[int, int]:
        """The release's year and month: ``(2025, 4)``."""
        year, month = (int(part) for part in self.version.split(".")[:2])
        return year, month

    @property
    def http_in_storage(self) -> bool:
        """Since 2026.10 the http config lives in storage; YAML's is migrated once, with a repair."""
        return self.year_month >= (2026, 10)

    def new_flow(self, handler: str, entry_id: str | None = None) -> dict[str, Any]:
        """The body the release's frontend posts to start a config flow (``entry_id``: reconfigure).

        2025.4's frontend also names ``show_advanced_options`` (false for a user without
        advanced mode); 2026.11's sends the handler and the entry id alone.
        """
        body: dict[str, Any] = {"handler": handler}
        if self.year_month < (2026, 10):
            body["show_advanced_options"] = False
        if entry_id is not None:
            body["entry_id"] = entry_id
        return body

    def env(self, directory: Path) -> dict[str, str]:
        """``UV_OVERRIDE`` for the uv that installs requirements at runtime, if needed.

        A first start installs the requirements of the integrations onboarding sets up; without
        this, those installs may upgrade a package the release's pins hold back. (Home Assistant
        passes its own ``--constraint`` to uv, which would replace ``UV_CONSTRAINT``.)
        """
        if not self.constraints:
            return {}
        path = directory / "uv-overrides.txt"
        path.write_text("".join(f"{constraint}\n" for constraint in self.constraints))
        return {"UV_OVERRIDE": str(path)}


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Instance:
    """The fakes and one onboarded Home Assistant under ``directory``, for one release.

    Use as ``async with``: leaving stops every process it started, by its PID, also on failure.
    """

    def __init__(
        self, release: Release, directory: Path, env: Mapping[str, str] | None = None
    ) -> None:
        """Plan the instance; nothing runs yet. ``env`` is added to Home Assistant's environment."""
        self.release = release
        self.directory = directory
        self.env = dict(env or {})
        self.config_dir = directory / "config"
        self.log = directory / "home-assistant.log"
        """Every Home Assistant process of the run appends here (a restart too)."""
        self.log_reader = LogReader(self.log)
        self.fakes_log = directory / "fakes.log"
        self.fakes_ready = directory / "fakes.json"
        self.fakes_state = directory / "fakes-state.json"
        """What the fakes keep between runs, as the demo's (``start_fakes``'s state file)."""
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.services: Services = {}
        self.token = ""
        self._fakes: subprocess.Popen[bytes] | None = None
        self._home_assistant: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Self:
        """Start the fakes, then Home Assistant: onboarded, bound to 127.0.0.1, credentials added."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        try:
            await self._start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop everything."""
        self.stop()

    async def _start(self) -> None:
        await self.start_fakes()
        await self.start_home_assistant()
        self.token = await onboard(self.base_url)
        async with self.websocket() as ws:
            if self.release.http_in_storage:
                http = await http_config(ws)
                if http.get("server_host") != [HOST] or http.get("server_port") != self.port:
                    raise DemoError(f"http config is not {HOST}:{self.port}: {http}")
            await wait_until_running(ws)
            # As scripts/demo: once running, so Home Assistant has its own examples too.
            install_blueprints(self.config_dir)
            failed = [
                line for line in await add_demo_credentials(ws, self.services) if "FAILED" in line
            ]
            if failed:
                raise DemoError("\n".join(failed))
            # What a new user would see first: nothing that is not ours (as in scripts/demo).
            asked, avoidable = await noise(ws)
            if problems := asked + avoidable:
                raise DemoError(f"a fresh Home Assistant shows: {'; '.join(problems)}")

    async def start_fakes(self) -> None:
        """Start the fakes (again) with the same state file; wait until they listen.

        Started again, they must come back on the same ports: Home Assistant's entries and this
        run's journeys know them.
        """
        before = self.services
        self._fakes = start_fakes(self.fakes_ready, self.fakes_log, self.fakes_state)
        self.services = await wait_for_fakes(self._fakes, self.fakes_ready, self.fakes_log)
        if before and self.services != before:
            raise StepFailed(f"the fakes came back as {self.services}, not as {before}")

    async def stop_fakes(self) -> int | None:
        """Stop the fakes by their PID (SIGTERM: they write their state file); their exit code."""
        if self._fakes is None:
            return None
        return await asyncio.to_thread(stop, self._fakes)

    async def start_home_assistant(self) -> None:
        """Start Home Assistant (again) with the same config and wait until it serves."""
        self._home_assistant = start_home_assistant(
            self.config_dir,
            self.port,
            service_env(self.services) | self.release.env(self.directory) | self.env,
            self.log,
            self.release.python,
            http_in_storage=self.release.http_in_storage,
        )
        await wait_for_home_assistant(self.base_url, self._home_assistant, self.log)

    async def stop_home_assistant(self) -> int | None:
        """Stop Home Assistant by its PID (SIGTERM; SIGKILL after 30 s); its exit code.

        The event loop goes on meanwhile (the other release, a scenario's own tasks).
        """
        if self._home_assistant is None:
            return None
        return await asyncio.to_thread(stop, self._home_assistant)

    async def start_again(self) -> None:
        """Start the stopped Home Assistant again; return once it is running."""
        await self.start_home_assistant()
        async with self.websocket() as ws:
            await wait_until_running(ws)

    @property
    def pid(self) -> int:
        """The process id of the running Home Assistant."""
        if self._home_assistant is None:
            raise DemoError("Home Assistant is not running")
        return self._home_assistant.pid

    async def restart(self) -> None:
        """Stop Home Assistant by its PID and start it again; return once it is running."""
        await self.stop_home_assistant()
        await self.start_again()

    async def recover(self) -> None:
        """After a failed scenario: the fakes and Home Assistant running again, if one stopped.

        Home Assistant is stopped while the fakes start again, so it never polls them meanwhile.
        """
        if self.running():
            return
        await self.stop_home_assistant()
        if self._fakes is None or self._fakes.poll() is not None:
            await self.start_fakes()
        await self.start_again()

    def running(self) -> bool:
        """Whether Home Assistant and the fakes are both still running."""
        return all(
            process is not None and process.poll() is None
            for process in (self._home_assistant, self._fakes)
        )

    def stop(self) -> None:
        """Stop Home Assistant, then the fakes."""
        for process in (self._home_assistant, self._fakes):
            if process is not None:
                stop(process)

    @contextlib.asynccontextmanager
    async def websocket(self) -> AsyncIterator[HomeAssistantWebSocket]:
        """An authenticated websocket to this Home Assistant."""
        async with connect_websocket(self.base_url, self.token) as ws:
            yield ws

    async def rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call Home Assistant's REST API as the onboarded owner; fail on an error status."""
        async with (
            aiohttp.ClientSession(
                self.base_url,
                # The frontend names its origin; OAuth2 flows build their redirect URI from it.
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "HA-Frontend-Base": self.base_url,
                },
                connector=aiohttp.TCPConnector(force_close=True),  # restarts drop connections
            ) as session,
            session.request(method, path, json=body) as response,
        ):
            if response.status >= 400:
                raise StepFailed(
                    f"{method} {path} answered {response.status}: {await response.text()}"
                )
            return await response.json()

    async def entries(self) -> list[dict[str, Any]]:
        """The integration's config entries."""
        return list(await self.rest("GET", f"/api/config/config_entries/entry?domain={DOMAIN}"))
