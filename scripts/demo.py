"""Run Home Assistant with the health_trackers integration and the fake services, onboarded.

``scripts/demo`` runs this with the demo virtualenv. Everything listens on 127.0.0.1 only and
stops on Ctrl-C or SIGTERM. Each step is a function so acceptance tests can reuse it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
import contextlib
from http import HTTPStatus
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
from typing import Any, NoReturn, cast
import webbrowser

import aiohttp

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / ".demo"
CONFIG_DIR = DEMO_DIR / "config"
HA_LOG = DEMO_DIR / "home-assistant.log"
FAKES_LOG = DEMO_DIR / "fakes.log"
READY_FILE = DEMO_DIR / "fakes.json"
DOMAIN = "health_trackers"
HOST = "127.0.0.1"
USERNAME = "demo"
PASSWORD = "demodemo"
RESTART_EXIT_CODE = 100  # Home Assistant exits with this when asked to restart
FAKES_START_SECONDS = 30
HA_START_SECONDS = 600  # the first start installs the requirements of built-in integrations
HA_RUNNING_SECONDS = 300

# default_config minus what needs the internet, radios or discovery (bluetooth, cloud, dhcp,
# go2rtc, homeassistant_alerts, ssdp, stream, usb, zeroconf) and minus `my`, which would send
# OAuth2 redirects through https://my.home-assistant.io instead of back to this instance.
CONFIGURATION_YAML = """\
# Written by scripts/demo on every start.
homeassistant:
  name: Health trackers demo
http:
  server_host: {host}
  server_port: {port}
application_credentials:
config:
frontend:
history:
logbook:
"""

Services = dict[str, dict[str, str]]
"""The fakes' ready file: ``{service: {"origin", "name", and for OAuth2 "client_id", ...}}``."""


class DemoError(Exception):
    """A step failed; the message says which and where to look."""


class CommandError(DemoError):
    """Home Assistant answered a websocket command with an error."""


def _spawn(command: list[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session (Ctrl-C reaches only us), appending to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """Stop ``process`` with SIGTERM, or SIGKILL after ``timeout`` seconds; return its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def start_fakes(ready_file: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m fakes serve``, which writes ``ready_file`` once every fake listens."""
    ready_file.unlink(missing_ok=True)
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "fakes", "serve", "--host", HOST]
    command += ["--ready-file", str(ready_file)]
    return _spawn(command, os.environ | {"PYTHONPATH": python_path}, log_path)


async def wait_for_fakes(
    process: subprocess.Popen[bytes], ready_file: Path, log_path: Path
) -> Services:
    """Wait for the fakes' ready file and return it."""
    try:
        async with asyncio.timeout(FAKES_START_SECONDS):
            while process.poll() is None:
                with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                    return cast(Services, json.loads(await asyncio.to_thread(ready_file.read_text)))
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise DemoError(f"the fakes wrote no {ready_file}; see {log_path}") from None
    raise DemoError(f"the fakes exited with code {process.returncode}; see {log_path}")


def service_env(services: Services) -> dict[str, str]:
    """The ``HEALTH_TRACKERS_<SERVICE>_URL`` variables that point the integration at the fakes."""
    return {
        f"HEALTH_TRACKERS_{name.upper()}_URL": info["origin"] for name, info in services.items()
    }


def check_port_free(port: int) -> None:
    """Fail early if ``port`` is taken: Home Assistant would fall back to all interfaces."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Home Assistant binds
        try:
            probe.bind((HOST, port))
        except OSError as err:
            raise DemoError(f"{HOST}:{port} is in use ({err.strerror}); set DEMO_PORT") from err


def write_config(config_dir: Path, port: int) -> None:
    """Write configuration.yaml and link the working tree's integration into ``config_dir``."""
    custom_components = config_dir / "custom_components"
    custom_components.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(CONFIGURATION_YAML.format(host=HOST, port=port))
    link = custom_components / DOMAIN
    if not link.is_symlink():
        link.symlink_to(REPO_ROOT / "custom_components" / DOMAIN, target_is_directory=True)


def start_home_assistant(
    config_dir: Path,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    python: str = sys.executable,
) -> subprocess.Popen[bytes]:
    """Write the config for ``port`` and start Home Assistant, with ``env`` added to ours.

    ``python`` is the interpreter of the virtualenv holding the Home Assistant release to run.
    """
    write_config(config_dir, port)
    command = [python, "-m", "homeassistant", "--config", str(config_dir), "--log-no-color"]
    return _spawn(command, os.environ | dict(env), log_path)


async def wait_for_home_assistant(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    """Wait until Home Assistant serves its frontend; a first start installs requirements first."""
    try:
        async with (
            asyncio.timeout(HA_START_SECONDS),
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        ):
            while process.poll() is None:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{base_url}/") as response:  # the frontend
                        if response.status == HTTPStatus.OK:
                            return
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise DemoError(f"Home Assistant did not answer on {base_url}; see {log_path}") from None
    raise DemoError(f"Home Assistant exited with code {process.returncode}; see {log_path}")


async def _post_json(session: aiohttp.ClientSession, path: str, **kwargs: Any) -> Any:
    """POST to Home Assistant and return its JSON answer; raise DemoError on an error status."""
    async with session.post(path, **kwargs) as response:
        if response.status >= 400:
            raise DemoError(f"POST {path} answered {response.status}: {await response.text()}")
        return await response.json()


async def onboard(
    base_url: str, username: str = USERNAME, password: str = PASSWORD, language: str = "en"
) -> str:
    """Onboard as the frontend does: create the owner, finish every step; return an access token."""
    client_id = f"{base_url}/"
    async with aiohttp.ClientSession(base_url) as session:
        owner = {"name": username.title(), "username": username, "password": password}
        user = await _post_json(
            session,
            "/api/onboarding/users",
            json=owner | {"client_id": client_id, "language": language},
        )
        tokens = await _post_json(
            session,
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": user["auth_code"],
                "client_id": client_id,
            },
        )
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        await _post_json(session, "/api/onboarding/core_config", headers=headers)
        await _post_json(session, "/api/onboarding/analytics", headers=headers)
        await _post_json(
            session,
            "/api/onboarding/integration",
            headers=headers,
            json={"client_id": client_id, "redirect_uri": f"{base_url}/?auth_callback=1"},
        )
    return str(tokens["access_token"])


class HomeAssistantWebSocket:
    """An authenticated connection to Home Assistant's websocket API."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap a websocket that has already authenticated."""
        self._ws = ws
        self._next_id = 1

    async def call(self, command: str, **fields: Any) -> Any:
        """Send ``command`` and return its result; raise CommandError if it failed."""
        message_id, self._next_id = self._next_id, self._next_id + 1
        await self._ws.send_json({"id": message_id, "type": command, **fields})
        while True:
            message = await self._ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise CommandError(f"{command}: the websocket closed ({message.type.name})")
            if (answer := json.loads(message.data)).get("id") == message_id:
                break
        if not answer["success"]:
            error = answer["error"]
            raise CommandError(f"{command} failed: {error['code']}: {error['message']}")
        return answer["result"]


@contextlib.asynccontextmanager
async def connect_websocket(base_url: str, token: str) -> AsyncIterator[HomeAssistantWebSocket]:
    """Open ``/api/websocket`` and authenticate with ``token``."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{base_url}/api/websocket") as ws,
    ):
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": token})
        if (answer := await ws.receive_json())["type"] != "auth_ok":
            raise DemoError(f"websocket authentication failed: {answer}")
        yield HomeAssistantWebSocket(ws)


async def promote_http_config(ws: HomeAssistantWebSocket) -> dict[str, Any]:
    """Confirm the http config under trial so it is not reverted after 5 minutes; return it.

    Since 2026.10 a new http config (here: from configuration.yaml on the first start) is a
    pending trial until promoted; unpromoted, Home Assistant restarts with the stable one, which
    on a fresh install listens on all interfaces.
    """
    if (await ws.call("http/config"))["pending"] is not None:
        await ws.call("http/config/promote")
    return dict((await ws.call("http/config"))["stable"])


async def wait_until_running(ws: HomeAssistantWebSocket) -> None:
    """Wait until Home Assistant has finished starting: every integration set up or given up."""
    try:
        async with asyncio.timeout(HA_RUNNING_SECONDS):
            while True:
                if (await ws.call("get_config"))["state"] == "RUNNING":
                    return
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise DemoError(f"Home Assistant is still starting after {HA_RUNNING_SECONDS}s") from None


async def add_application_credential(
    ws: HomeAssistantWebSocket, client_id: str, client_secret: str, name: str
) -> dict[str, Any]:
    """Store an OAuth2 application credential for the integration; return the stored item."""
    credential = {"client_id": client_id, "client_secret": client_secret, "name": name}
    return dict(await ws.call("application_credentials/create", domain=DOMAIN, **credential))


async def add_demo_credentials(ws: HomeAssistantWebSocket, services: Services) -> list[str]:
    """Add a credential for each OAuth2 fake; return a line per fake saying how it went.

    OAuth 1.0a services take their consumer key and secret in the config flow, so for those
    the line says what to type.
    """
    lines = []
    for service, info in services.items():
        if "consumer_key" in info:
            lines.append(
                f"  {info.get('name', service)}: type consumer key {info['consumer_key']}"
                f" and consumer secret {info['consumer_secret']} when you add the account"
            )
        if "client_id" not in info:
            continue
        name = f"{info.get('name', service)} (demo)"
        try:
            await add_application_credential(ws, info["client_id"], info["client_secret"], name)
        except CommandError as err:
            lines.append(f"  FAILED {name}: {err}")
        else:
            lines.append(f"  added {name}, client_id {info['client_id']}")
    return lines


def _gui_available() -> bool:
    """Whether a browser would open a window rather than take over this terminal."""
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


async def run_demo(port: int) -> int:
    """Start the fakes and Home Assistant, set it up, and keep both running until cancelled."""
    processes: list[subprocess.Popen[bytes]] = []  # Home Assistant first: stopped in this order
    try:
        env = await _start_demo(port, processes)
        await _supervise(port, env, processes)
    except asyncio.CancelledError:
        print("\nStopping", flush=True)
        return 0
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        for process in processes:
            stop(process)


def _clear_demo_dir() -> None:
    """Remove the previous run's config and logs: every run starts from a fresh install."""
    shutil.rmtree(CONFIG_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(exist_ok=True)
    for log in (HA_LOG, FAKES_LOG):
        log.unlink(missing_ok=True)


async def _start_demo(port: int, processes: list[subprocess.Popen[bytes]]) -> dict[str, str]:
    """Start a fresh demo, adding what it starts to ``processes``; return Home Assistant's env."""
    check_port_free(port)
    _clear_demo_dir()
    base_url = f"http://{HOST}:{port}"

    print(f"Starting the fake services (log: {FAKES_LOG})", flush=True)
    fakes = start_fakes(READY_FILE, FAKES_LOG)
    processes.append(fakes)
    services = await wait_for_fakes(fakes, READY_FILE, FAKES_LOG)
    env = service_env(services)
    print("".join(f"  {variable}={origin}\n" for variable, origin in env.items()), end="")
    print(f"Starting Home Assistant in {CONFIG_DIR} (log: {HA_LOG})", flush=True)
    processes.insert(0, start_home_assistant(CONFIG_DIR, port, env, HA_LOG))
    await wait_for_home_assistant(base_url, processes[0], HA_LOG)

    print("Onboarding", flush=True)
    token = await onboard(base_url)
    async with connect_websocket(base_url, token) as ws:
        http_config = await promote_http_config(ws)
        if http_config.get("server_host") != [HOST] or http_config.get("server_port") != port:
            raise DemoError(f"Home Assistant's http config is not {HOST}:{port}: {http_config}")
        await wait_until_running(ws)
        print("Credentials for the fake services:")
        print("\n".join(await add_demo_credentials(ws, services)) or "  none: no OAuth2 fake")
    print(
        f"\nHome Assistant is ready: {base_url}\n"
        f"  username: {USERNAME}\n  password: {PASSWORD}\n  log: {HA_LOG}\nPress Ctrl-C to stop.",
        flush=True,
    )
    if _gui_available():
        webbrowser.open(base_url)
    return env


async def _supervise(
    port: int, env: Mapping[str, str], processes: list[subprocess.Popen[bytes]]
) -> NoReturn:
    """Watch Home Assistant and the fakes: restart Home Assistant when it asks, fail if one dies."""
    home_assistant, fakes = processes
    while True:
        await asyncio.sleep(1)
        if fakes.poll() is not None:
            raise DemoError(f"the fakes exited with code {fakes.returncode}; see {FAKES_LOG}")
        if home_assistant.poll() == RESTART_EXIT_CODE:
            print("Home Assistant asked for a restart; restarting", flush=True)
            home_assistant = processes[0] = start_home_assistant(CONFIG_DIR, port, env, HA_LOG)
            await wait_for_home_assistant(f"http://{HOST}:{port}", home_assistant, HA_LOG)
            print("Home Assistant is back", flush=True)
        elif home_assistant.returncode is not None:
            code = home_assistant.returncode
            raise DemoError(f"Home Assistant exited with code {code}; see {HA_LOG}")


async def _run_until_signalled(port: int) -> int:
    """Run the demo; SIGINT, SIGTERM and SIGHUP cancel it, which stops what it started."""
    demo = asyncio.ensure_future(run_demo(port))
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        asyncio.get_running_loop().add_signal_handler(sig, demo.cancel)
    return await demo


def main() -> int:
    """Run the demo on ``$DEMO_PORT`` (default 8123) until Ctrl-C or SIGTERM."""
    return asyncio.run(_run_until_signalled(int(os.environ.get("DEMO_PORT", "8123"))))


if __name__ == "__main__":
    sys.exit(main())
