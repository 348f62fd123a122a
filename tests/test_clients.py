"""The client layer on its own: no Home Assistant, straight against the fakes."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

import custom_components.health_trackers as integration

CLIENT_MODULES = sorted(
    path.stem
    for path in (Path(integration.__file__).parent / "clients").glob("*.py")
    if path.stem != "__init__"
)


def test_clients_import_without_home_assistant() -> None:
    """``clients`` and each of its modules import as a top-level package with Home Assistant blocked."""
    script = "\n".join(
        [
            "import importlib, sys",
            "sys.modules['homeassistant'] = None",
            f"sys.path.insert(0, {str(Path(integration.__file__).parent)!r})",
            "import clients",
            *(f"importlib.import_module('clients.{name}')" for name in CLIENT_MODULES),
            "assert not any(name.split('.')[0] == 'homeassistant' for name in sys.modules"
            " if sys.modules[name] is not None)",
            "print('ok')",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert {"api", "exceptions", "oauth1", "parsing"} <= set(CLIENT_MODULES)
