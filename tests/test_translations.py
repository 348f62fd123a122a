"""Every translation holds to English: the same keys, the same placeholders, no empty strings.

Home Assistant falls back to English key by key, so a missing key shows English in the middle of a
translated dialog, and an extra one is never shown; a placeholder the English string lacks stays
as literal ``{name}`` text, and one it drops loses what the message was about.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

TRANSLATIONS = (
    Path(__file__).parent.parent / "custom_components" / "health_trackers" / "translations"
)
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
"""A ``{name}`` placeholder; ``{{`` and ``}}`` (literal braces) are not one."""


def _languages() -> list[str]:
    """The languages beside English, found in the folder so a new file is checked without edits."""
    return sorted(path.stem for path in TRANSLATIONS.glob("*.json") if path.stem != "en")


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every value that is not an object, by its dotted path: the key tree in comparable form."""
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            leaves |= _leaves(value, path)
        else:
            leaves[path] = value
    return leaves


def _load(language: str) -> dict[str, Any]:
    """One translation file's values by dotted path."""
    tree = json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
    return _leaves(tree)


def _placeholders(text: str) -> set[str]:
    """The placeholder names a string uses."""
    return set(PLACEHOLDER.findall(text))


def test_languages_found() -> None:
    """The checks below run per language; with no file besides English they would pass unseen."""
    assert _languages()


@pytest.mark.parametrize("language", _languages())
def test_same_keys_as_english(language: str) -> None:
    """A missing key shows English mid-dialog; an extra one is a leftover nobody sees."""
    english = _load("en")
    translated = _load(language)
    missing = sorted(english.keys() - translated.keys())
    extra = sorted(translated.keys() - english.keys())
    assert (missing, extra) == ([], []), f"{language}.json: missing {missing}, extra {extra}"


@pytest.mark.parametrize("language", _languages())
def test_same_placeholders_as_english(language: str) -> None:
    """Home Assistant fills in the English string's placeholders; any other name stays as text."""
    english = _load("en")
    translated = _load(language)
    wrong = {
        path: (sorted(_placeholders(text)), sorted(_placeholders(english[path])))
        for path, text in translated.items()
        if path in english
        and isinstance(text, str)
        and isinstance(english[path], str)
        and _placeholders(text) != _placeholders(english[path])
    }
    assert not wrong, f"{language}.json: placeholders (translated, English) differ: {wrong}"


@pytest.mark.parametrize("language", ["en", *_languages()])
def test_no_empty_strings(language: str) -> None:
    """An empty or non-string value shows a blank label where text belongs."""
    empty = sorted(
        path
        for path, text in _load(language).items()
        if not isinstance(text, str) or not text.strip()
    )
    assert not empty, f"{language}.json: empty or not a string: {empty}"
