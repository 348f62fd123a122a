"""Run Home Assistant with the health_trackers integration and the fake services, onboarded.

``scripts/demo [--fresh]`` runs this with the demo virtualenv. Everything listens on 127.0.0.1
only and stops on Ctrl-C or SIGTERM. Each step is a function so acceptance tests can reuse it.

The demo keeps its Home Assistant (``.demo/config``) and what the fakes must remember (tokens,
who is signed in: ``.demo/fakes-state.json``) from one run to the next; ``--fresh`` starts over.
A fresh Home Assistant is set up quietly: core config (country, time zone, units) over the
websocket as onboarding's frontend does, without onboarding's own integrations (Google Translate,
Met, Radio Browser, Shopping List: they need the internet), and its http server bound to
127.0.0.1 in its storage, as 2026.10 and later keep it (YAML only for older releases).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Mapping
import contextlib
from datetime import UTC, datetime
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
import zoneinfo

import aiohttp

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / ".demo"
CONFIG_DIR = DEMO_DIR / "config"
HA_LOG = DEMO_DIR / "home-assistant.log"
FAKES_LOG = DEMO_DIR / "fakes.log"
READY_FILE = DEMO_DIR / "fakes.json"
FAKES_STATE = DEMO_DIR / "fakes-state.json"
LAYOUT_FILE = CONFIG_DIR / ".health-trackers-demo"
LAYOUT = "2"
"""How scripts/demo sets up its Home Assistant; a config made another way is started afresh."""
DOMAIN = "health_trackers"
HOST = "127.0.0.1"
USERNAME = "demo"
PASSWORD = "demodemo"
RESTART_EXIT_CODE = 100  # Home Assistant exits with this when asked to restart
FAKES_START_SECONDS = 30
HA_START_SECONDS = 600  # the first start installs the requirements of built-in integrations
HA_RUNNING_SECONDS = 300
STRINGS = REPO_ROOT / "custom_components" / DOMAIN / "translations" / "en.json"

# What default_config brings that works offline (Home Assistant sets up automations, scripts,
# scenes, persons, helpers and backups anyway): not bluetooth, cloud, dhcp, go2rtc,
# homeassistant_alerts, ssdp, stream, usb and zeroconf, which need the internet, radios or
# discovery, nor `my`, which would send OAuth2 redirects through https://my.home-assistant.io
# instead of back to this instance.
CONFIGURATION_YAML = """\
# Written by scripts/demo on every start. The core config (name, country, time zone, units) is
# set in the UI (Settings > System > General), the http server in .storage/http.
application_credentials:
config:
frontend:
history:
logbook:
automation: !include automations.yaml
script: !include scripts.yaml
scene: !include scenes.yaml
logger:
  filters:
    # Home Assistant sets up text-to-speech and cameras on every install, and says so when this
    # machine lacks ffmpeg and libturbojpeg; the demo has neither a voice nor a camera.
    haffmpeg.core:
      - '^FFmpeg fails \\[Errno 2\\] No such file or directory'
    haffmpeg.tools:
      - '^Error starting FFmpeg'
    homeassistant.components.camera.img_util:
      - '^Error loading libturbojpeg'
"""
HTTP_YAML = """\
http:
  server_host: {host}
  server_port: {port}
"""
CORE_CONFIG = {
    "location_name": "Health trackers demo",
    "country": "GB",
    "currency": "GBP",
    "language": "en",
    "unit_system": "metric",
}
"""What onboarding's core-config page would set (the time zone is the machine's)."""
HTTP_STORE_VERSION = (3, 1)
HTTP_STORE_DEFAULTS: dict[str, Any] = {
    "cors_allowed_origins": ["https://cast.home-assistant.io"],
    "login_attempts_threshold": -1,
    "ip_ban_enabled": True,
    "ssl_profile": "intermediate_v6",
    "use_x_frame_options": True,
    "error": None,
    "error_message": None,
}
"""Home Assistant 2026.11's default http config, as it stores it (``.storage/http``)."""
ONBOARDING_STORE_VERSION = 4

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


def start_fakes(
    ready_file: Path, log_path: Path, state_file: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m fakes serve``, which writes ``ready_file`` once every fake listens.

    With ``state_file`` the fakes keep their tokens, sign-ins and ports there between runs.
    """
    ready_file.unlink(missing_ok=True)
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "fakes", "serve", "--host", HOST]
    command += ["--ready-file", str(ready_file)]
    if state_file is not None:
        command += ["--state-file", str(state_file)]
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


def install_blueprints(config_dir: Path) -> None:
    """The shipped blueprints in the demo's blueprint list (they cannot be imported by address
    here: no internet), the working tree's at every start.

    Called once Home Assistant runs: it fills ``blueprints/automation`` with its own examples
    only if that folder does not exist yet, and lists the folder afresh each time.
    """
    folder = Path("blueprints", "automation", DOMAIN)
    shutil.copytree(REPO_ROOT / folder, config_dir / folder, dirs_exist_ok=True)


def check_port_free(port: int) -> None:
    """Fail early if ``port`` is taken: Home Assistant would fall back to all interfaces."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Home Assistant binds
        try:
            probe.bind((HOST, port))
        except OSError as err:
            raise DemoError(f"{HOST}:{port} is in use ({err.strerror}); set DEMO_PORT") from err


def _storage(config_dir: Path, key: str) -> Path:
    return config_dir / ".storage" / key


def _write_store(config_dir: Path, key: str, version: tuple[int, int], data: Any) -> None:
    """Write one of Home Assistant's storage files, as its ``Store`` would (while it is stopped)."""
    path = _storage(config_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    major, minor = version
    store = {"version": major, "minor_version": minor, "key": key, "data": data}
    path.write_text(json.dumps(store, indent=2))


def write_http_store(config_dir: Path, port: int) -> None:
    """Bind Home Assistant to ``HOST``:``port`` in ``.storage/http`` (2026.10 and later).

    Those releases keep the http config in storage, migrate YAML's once with a repair ("The
    HTTP YAML configuration is deprecated") and try a new config for five minutes before
    reverting it. A stored stable config is used as it is, from the first start: no YAML, no
    trial. Other settings made in the UI are kept.
    """
    path = _storage(config_dir, "http")
    try:
        data = json.loads(path.read_text())["data"]
    except (FileNotFoundError, KeyError, ValueError):
        stable = HTTP_STORE_DEFAULTS | {"created_at": datetime.now(UTC).isoformat()}
        data = {"stable": stable, "pending": None}
    for config in (data["stable"], data.get("pending")):
        if config is not None:
            config |= {"server_host": [HOST], "server_port": port}
    data["yaml_migration_done"] = True
    _write_store(config_dir, "http", HTTP_STORE_VERSION, data)


def skip_onboarding_integrations(config_dir: Path) -> None:
    """Mark onboarding's core-config step done before the first start.

    Finishing that step sets up Google Translate (text-to-speech, which wants ffmpeg), Met,
    Radio Browser and Shopping List, which fail or log errors without the internet.
    ``onboard`` sets the core config itself, as the step's page would.
    """
    if not _storage(config_dir, "onboarding").exists():
        _write_store(
            config_dir, "onboarding", (ONBOARDING_STORE_VERSION, 1), {"done": ["core_config"]}
        )


def is_onboarded(config_dir: Path) -> bool:
    """Whether Home Assistant in ``config_dir`` finished onboarding."""
    try:
        done = json.loads(_storage(config_dir, "onboarding").read_text())["data"]["done"]
    except (FileNotFoundError, KeyError, ValueError):
        return False
    return {"user", "core_config", "analytics", "integration"} <= set(done)


def write_config(config_dir: Path, port: int, *, http_in_storage: bool = True) -> None:
    """Write the config for ``port`` and link the working tree's integration into ``config_dir``.

    ``http_in_storage``: the release keeps its http config in storage (2026.10 and later);
    older ones read it from configuration.yaml.
    """
    custom_components = config_dir / "custom_components"
    custom_components.mkdir(parents=True, exist_ok=True)
    yaml = CONFIGURATION_YAML
    if http_in_storage:
        write_http_store(config_dir, port)
    else:
        yaml += HTTP_YAML.format(host=HOST, port=port)
    (config_dir / "configuration.yaml").write_text(yaml)
    for name, empty in (("automations.yaml", "[]\n"), ("scripts.yaml", ""), ("scenes.yaml", "")):
        if not (config_dir / name).exists():  # what the UI's editors write to
            (config_dir / name).write_text(empty)
    link = custom_components / DOMAIN
    if not link.is_symlink():
        link.symlink_to(REPO_ROOT / "custom_components" / DOMAIN, target_is_directory=True)


def start_home_assistant(
    config_dir: Path,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    python: str = sys.executable,
    *,
    http_in_storage: bool = True,
) -> subprocess.Popen[bytes]:
    """Write the config for ``port`` and start Home Assistant, with ``env`` added to ours.

    ``python`` is the interpreter of the virtualenv holding the Home Assistant release to run.
    A config directory without Home Assistant's storage yet is prepared for ``onboard``.
    """
    if not is_onboarded(config_dir):
        skip_onboarding_integrations(config_dir)
    write_config(config_dir, port, http_in_storage=http_in_storage)
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


def local_time_zone() -> str:
    """The machine's IANA time zone (``TZ``, ``/etc/localtime``, ``/etc/timezone``), else UTC."""
    candidates = [os.environ.get("TZ", "").removeprefix(":")]
    with contextlib.suppress(OSError):
        candidates.append(str(Path("/etc/localtime").resolve()).partition("zoneinfo/")[2])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    for name in filter(None, candidates):
        with contextlib.suppress(ValueError, zoneinfo.ZoneInfoNotFoundError):
            zoneinfo.ZoneInfo(name)
            return name
    return "UTC"


async def _token(session: aiohttp.ClientSession, client_id: str, code: str) -> str:
    tokens = await _post_json(
        session,
        "/auth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": client_id},
    )
    return str(tokens["access_token"])


async def onboard(
    base_url: str,
    username: str = USERNAME,
    password: str = PASSWORD,
    language: str = "en",
    time_zone: str = "UTC",
) -> str:
    """Onboard as the frontend does: create the owner, finish every step; return an access token.

    The core config (``CORE_CONFIG``, ``time_zone``) is set over the websocket as the frontend's
    core-config page does; the step itself was marked done before the first start (see
    ``skip_onboarding_integrations``), so nothing that needs the internet is set up.
    """
    client_id = f"{base_url}/"
    async with aiohttp.ClientSession(base_url) as session:
        owner = {"name": username.title(), "username": username, "password": password}
        user = await _post_json(
            session,
            "/api/onboarding/users",
            json=owner | {"client_id": client_id, "language": language},
        )
        token = await _token(session, client_id, user["auth_code"])
        async with connect_websocket(base_url, token) as ws:
            await ws.call(
                "config/core/update", **(CORE_CONFIG | {"language": language}), time_zone=time_zone
            )
        headers = {"Authorization": f"Bearer {token}"}
        await _post_json(session, "/api/onboarding/analytics", headers=headers)
        await _post_json(
            session,
            "/api/onboarding/integration",
            headers=headers,
            json={"client_id": client_id, "redirect_uri": f"{base_url}/?auth_callback=1"},
        )
    return token


async def log_in(base_url: str, username: str = USERNAME, password: str = PASSWORD) -> str:
    """Log in with a username and password, as the login page does; return an access token."""
    client_id = f"{base_url}/"
    async with aiohttp.ClientSession(base_url) as session:
        flow = await _post_json(
            session,
            "/auth/login_flow",
            json={
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{base_url}/?auth_callback=1",
            },
        )
        result = await _post_json(
            session,
            f"/auth/login_flow/{flow['flow_id']}",
            json={"client_id": client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise DemoError(
                f"could not log in as {username} with password {password} ({result.get('errors')});"
                " `scripts/demo --fresh` starts a new demo"
            )
        return await _token(session, client_id, result["result"])


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


async def http_config(ws: HomeAssistantWebSocket) -> dict[str, Any]:
    """The http config Home Assistant runs with (2026.10 and later)."""
    config = await ws.call("http/config")
    return dict(config["pending"] or config["stable"])


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
    """Store a credential for each OAuth2 fake unless one with its client ID is stored already.

    Return a line per credential added, or per failure (starting with ``FAILED``).
    """
    stored = {item["client_id"] for item in await ws.call("application_credentials/list")}
    lines = []
    for service, info in services.items():
        if "client_id" not in info or info["client_id"] in stored:
            continue
        name = credential_name(service, info)
        try:
            await add_application_credential(ws, info["client_id"], info["client_secret"], name)
        except CommandError as err:
            lines.append(f"FAILED {name}: {err}")
        else:
            lines.append(f"added the application credential {name}")
    return lines


def credential_name(service: str, info: Mapping[str, str]) -> str:
    """The demo's name for a fake's application credential: the service's name, so it is picked."""
    return f"{info.get('name', service)} (demo)"


async def fake_accounts(info: Mapping[str, str]) -> dict[str, Any]:
    """Who can sign in at a fake, who is signed in, and the linked accounts (its control endpoint)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{info['control']}/accounts") as answer,
    ):
        answer.raise_for_status()
        return dict(await answer.json())


def _menu() -> dict[str, str]:
    """The integration's menu: which service an account is with, as the dialog says it."""
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))
    return dict(strings["config"]["step"]["user"]["menu_options"])


async def what_to_type(services: Services, added: frozenset[str] = frozenset()) -> list[str]:
    """For each way to add an account: what to type or pick, and who signs in where.

    The account signed in at a fake's sign-in page is added first; another one after selecting
    "Sign in as …" on the fakes' page, except an account behind a linked account, which is
    added with its external username and secret. Accounts named in ``added`` (the titles of the
    entries there are: the person, or the service and the account id) are said to be added.
    """
    menu = _menu()
    lines = []
    for service, info in sorted(services.items(), key=lambda item: item[1].get("name", "")):
        known = await fake_accounts(info)
        names = {
            account["id"]: f"{account['name']} ({account['id']})" for account in known["accounts"]
        }
        signed_in = names.get(known["signed_in"], "nobody")

        titles = {
            account["id"]: {account["name"], f"{info.get('name', service)} {account['id']}"}
            for account in known["accounts"]
        }
        """The titles an account's entry may have: the person's, or the service's and its id."""
        if any(
            a["id"] == known["signed_in"] and titles[a["id"]] & added for a in known["accounts"]
        ):
            signed_in += ", already added"
        label = menu.get(service, info.get("name", service))
        if "consumer_key" in info:
            lines.append(
                f"  {label}: consumer key {info['consumer_key']}, "
                f"consumer secret {info['consumer_secret']}"
            )
        else:
            lines.append(
                f"  {label}: uses the application credential {credential_name(service, info)}"
            )
        lines.append(f"      the {info.get('name', service)} sign-in page signs in {signed_in}")
        if f"{service}_facility" in menu:
            lines.append(
                f"  {menu[f'{service}_facility']}: the same credential; no sign-in, the app reads"
                " the facility's statistics itself"
            )
        for account in known["accounts"]:
            if account["id"] == known["signed_in"] or titles[account["id"]] & added:
                continue
            if account["linked"] and f"{service}_linked" in menu:
                linked = account["linked"][0]
                lines.append(
                    f"  {menu[f'{service}_linked']}: external username {linked['username']}, "
                    f"external secret {linked['secret']} (that is {names[account['id']]})"
                )
            else:
                lines.append(
                    f'      for {names[account["id"]]}: first select "Sign in as '
                    f"{account['name']}\" on the fakes' page"
                )
    return lines


async def noise(ws: HomeAssistantWebSocket) -> tuple[list[str], list[str]]:
    """What Home Assistant shows that needs a word: accounts asking to sign in again (the user
    revoked or let a sign-in expire: what to do), and what the demo should have avoided."""
    reauth = {
        flow["context"].get("entry_id")
        for flow in await ws.call("config_entries/flow/progress")
        if flow.get("handler") == DOMAIN and flow["context"].get("source") == "reauth"
    }
    entries = await ws.call("config_entries/get")
    asked = [
        f"{entry['title']}: its sign-in was revoked or has expired. Settings > Devices & services"
        " > Health Trackers shows it under Needs attention; its button signs it in again."
        for entry in entries
        if entry["entry_id"] in reauth
    ]
    problems = [
        f"repair {issue['domain']}: {issue['translation_key']}"
        for issue in (await ws.call("repairs/list_issues"))["issues"]
        if not issue.get("dismissed_version")
    ]
    problems += [
        f"integration {entry['domain']} ({entry['title']}): {entry['state']}"
        for entry in entries
        if entry["state"] not in ("loaded", "not_loaded") and entry["entry_id"] not in reauth
    ]
    return asked, problems


class Poller:
    """Has Home Assistant poll an account as soon as the fakes' page adds a record to it.

    The fakes list what their control endpoint changed (``GET /changes``); for each record added
    since the last look, one entity of the account gets ``homeassistant.update_entity``, which
    polls its account. Logs in when first needed, and again after Home Assistant restarted.
    """

    def __init__(self, base_url: str, control: str) -> None:
        """Nothing seen yet: what the fakes changed before the demo started is not polled."""
        self._base_url = base_url
        self._control = control
        self._seen: int | None = None
        self._connection = contextlib.AsyncExitStack()
        self._ws: HomeAssistantWebSocket | None = None

    async def check(self) -> None:
        """Poll the accounts that got records since the last check; say so."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self._control}/changes") as answer,
        ):
            done = (await answer.json())["done"]
        new, self._seen = ([] if self._seen is None else done[self._seen :]), len(done)
        for service, account in sorted(
            {(change["service"], change["account"]) for change in new if "measured_at" in change}
        ):
            try:
                polled = await self._poll(f"{service}_{account}_".lower())
            except (CommandError, aiohttp.ClientError):  # Home Assistant restarted: log in again
                await self.close()
                polled = await self._poll(f"{service}_{account}_".lower())
            if polled:
                print(
                    f"New data for {service} account {account}: Home Assistant polled it",
                    flush=True,
                )

    async def _poll(self, prefix: str) -> bool:
        """``update_entity`` on an enabled entity whose unique id starts with ``prefix``."""
        if self._ws is None:
            token = await log_in(self._base_url)
            self._ws = await self._connection.enter_async_context(
                connect_websocket(self._base_url, token)
            )
        entity_ids = sorted(
            entity["entity_id"]
            for entity in await self._ws.call("config/entity_registry/list")
            if entity["platform"] == DOMAIN
            and entity["unique_id"].startswith(prefix)
            and not entity["disabled_by"]
        )
        if entity_ids:
            await self._ws.call(
                "call_service",
                domain="homeassistant",
                service="update_entity",
                service_data={"entity_id": entity_ids[0]},
            )
        return bool(entity_ids)

    async def close(self) -> None:
        """Close the websocket, if open."""
        self._ws = None
        await self._connection.aclose()


def _gui_available() -> bool:
    """Whether a browser would open a window rather than take over this terminal."""
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


async def run_demo(port: int, *, fresh: bool = False) -> int:
    """Start the fakes and Home Assistant, set it up, and keep both running until cancelled."""
    processes: list[subprocess.Popen[bytes]] = []  # Home Assistant first: stopped in this order
    poller = None
    try:
        env, control = await _start_demo(port, processes, fresh=fresh)
        poller = Poller(f"http://{HOST}:{port}", control)
        await _supervise(port, env, processes, poller)
    except asyncio.CancelledError:
        print("\nStopping", flush=True)
        return 0
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        if poller is not None:
            with contextlib.suppress(Exception):  # Home Assistant may be gone already
                await poller.close()
        for process in processes:
            stop(process)


def _prepare_demo_dir(*, fresh: bool) -> bool:
    """Keep the last run's demo unless ``fresh``; say which; return whether it was kept.

    A config that did not finish onboarding, or that an older scripts/demo set up otherwise,
    starts afresh too.
    """
    DEMO_DIR.mkdir(exist_ok=True)
    relative = CONFIG_DIR.relative_to(REPO_ROOT)
    if not CONFIG_DIR.exists():
        why = "first run"
    elif fresh:
        why = "--fresh"
    elif not is_onboarded(CONFIG_DIR):
        why = "the last run did not finish setting it up"
    elif not LAYOUT_FILE.exists() or LAYOUT_FILE.read_text().strip() != LAYOUT:
        why = "an older scripts/demo set it up"
    else:
        print(
            f"Keeping the demo of the last run ({relative}: its accounts, history and settings)."
            "\n  `scripts/demo --fresh` starts over.",
            flush=True,
        )
        return True
    print(
        f"Starting a fresh demo in {relative} ({why}).\n"
        "  The next `scripts/demo` keeps it; `scripts/demo --fresh` starts over.",
        flush=True,
    )
    shutil.rmtree(CONFIG_DIR, ignore_errors=True)
    FAKES_STATE.unlink(missing_ok=True)
    CONFIG_DIR.mkdir(parents=True)
    LAYOUT_FILE.write_text(f"{LAYOUT}\n")
    return False


async def _start_demo(
    port: int, processes: list[subprocess.Popen[bytes]], *, fresh: bool
) -> tuple[dict[str, str], str]:
    """Start the demo, adding what it starts to ``processes``; return Home Assistant's env and
    the fakes' control origin."""
    check_port_free(port)
    kept = _prepare_demo_dir(fresh=fresh)
    for log in (HA_LOG, FAKES_LOG):  # each run's own
        log.unlink(missing_ok=True)
    base_url = f"http://{HOST}:{port}"

    print(f"Starting the fake services (log: {FAKES_LOG})", flush=True)
    fakes = start_fakes(READY_FILE, FAKES_LOG, FAKES_STATE)
    processes.append(fakes)
    services = await wait_for_fakes(fakes, READY_FILE, FAKES_LOG)
    env = service_env(services)
    print("".join(f"  {variable}={origin}\n" for variable, origin in env.items()), end="")
    print(f"Starting Home Assistant in {CONFIG_DIR} (log: {HA_LOG})", flush=True)
    processes.insert(0, start_home_assistant(CONFIG_DIR, port, env, HA_LOG))
    await wait_for_home_assistant(base_url, processes[0], HA_LOG)

    if kept:
        print(f"Logging in as {USERNAME}", flush=True)
        token = await log_in(base_url)
    else:
        time_zone = local_time_zone()
        print(
            f"Onboarding: user {USERNAME}, country {CORE_CONFIG['country']}, currency"
            f" {CORE_CONFIG['currency']}, {CORE_CONFIG['unit_system']} units, time zone"
            f" {time_zone} (Settings > System > General changes them)",
            flush=True,
        )
        token = await onboard(base_url, time_zone=time_zone)
    async with connect_websocket(base_url, token) as ws:
        http = await http_config(ws)
        if http.get("server_host") != [HOST] or http.get("server_port") != port:
            raise DemoError(f"Home Assistant's http config is not {HOST}:{port}: {http}")
        await wait_until_running(ws)
        install_blueprints(CONFIG_DIR)
        for line in await add_demo_credentials(ws, services):
            print(f"  {line}", flush=True)
        asked, problems = await noise(ws)
        added = frozenset(
            entry["title"] for entry in await ws.call("config_entries/get", domain=DOMAIN)
        )
    control = next(iter(services.values()))["control"].rsplit("/", 1)[0]
    print(
        f"\nWhat to type when you add an account (Settings > Devices & services > Add integration"
        f" > Health Trackers).\nThe fakes' page, {control}/ , switches who is signed in at a"
        " service and adds new data:"
    )
    print("\n".join(await what_to_type(services, added)))
    if asked:
        print("\nAsking to sign in again:", *asked, sep="\n  ")
    if problems:
        print("\nHome Assistant shows what the demo should have avoided:", *problems, sep="\n  ")
    print(
        f"\nHome Assistant is ready: {base_url}\n"
        f"  username: {USERNAME}\n  password: {PASSWORD}\n  log: {HA_LOG}\nPress Ctrl-C to stop.",
        flush=True,
    )
    if _gui_available():
        webbrowser.open(base_url)
    return env, control


async def _supervise(
    port: int, env: Mapping[str, str], processes: list[subprocess.Popen[bytes]], poller: Poller
) -> NoReturn:
    """Watch Home Assistant and the fakes: restart Home Assistant when it asks, fail if one dies;
    have it poll an account the fakes' page added a record to."""
    home_assistant, fakes = processes
    while True:
        await asyncio.sleep(1)
        with contextlib.suppress(CommandError, aiohttp.ClientError, OSError):
            await poller.check()
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


async def _run_until_signalled(port: int, *, fresh: bool) -> int:
    """Run the demo; SIGINT, SIGTERM and SIGHUP cancel it, which stops what it started."""
    demo = asyncio.ensure_future(run_demo(port, fresh=fresh))
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        asyncio.get_running_loop().add_signal_handler(sig, demo.cancel)
    return await demo


def main() -> int:
    """Run the demo on ``$DEMO_PORT`` (default 8123) until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="Home Assistant with Health Trackers and the fake services, on 127.0.0.1.",
        epilog="DEMO_PORT=8124 scripts/demo uses another port.",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="forget the last run's demo and start a new one"
    )
    args = parser.parse_args()
    port = int(os.environ.get("DEMO_PORT", "8123"))
    return asyncio.run(_run_until_signalled(port, fresh=args.fresh))


if __name__ == "__main__":
    sys.exit(main())
