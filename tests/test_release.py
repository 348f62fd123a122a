"""What a release publishes agrees with itself: the manifest's version is the changelog's top entry."""

from __future__ import annotations

import json
from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).parent.parent


def test_changelog_top_entry_is_the_manifest_version() -> None:
    """HACS shows the manifest's version; the changelog must say what that version brings."""
    manifest = json.loads((ROOT / "custom_components/health_trackers/manifest.json").read_text())
    changelog = (ROOT / "CHANGELOG.md").read_text()
    entries = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", changelog, re.MULTILINE)
    assert entries, "CHANGELOG.md has no entries"
    version, date = entries[0]
    assert version == manifest["version"], (version, manifest["version"])
    assert date, f"the top entry {version} has no date"


def test_the_release_workflow_refuses_a_tag_of_another_version() -> None:
    """``scripts/check-release``, which the release workflow runs on the published tag."""
    version = json.loads((ROOT / "custom_components/health_trackers/manifest.json").read_text())[
        "version"
    ]
    script = str(ROOT / "scripts/check-release")
    for tag in (version, f"v{version}"):
        assert subprocess.run([sys.executable, script, tag], check=False).returncode == 0
    refused = subprocess.run(
        [sys.executable, script, "v999.0.0"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1
    assert f"tag says 999.0.0, manifest.json says {version}" in refused.stdout
