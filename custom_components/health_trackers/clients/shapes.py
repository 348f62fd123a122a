"""What a service answered, as shapes without values: for diagnostics, and for saying what differs.

The services' data APIs are partly assumptions (docs/service-contracts.md). When a real service
answers otherwise, a user can send the diagnostics, which show each endpoint's last answer as its
structure alone: keys, JSON types, list lengths, string lengths. Ids in paths and digits in keys
are masked, so nothing measured or personal is in it.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

from yarl import URL

MAX_DEPTH = 6
MAX_KEYS = 40
MAX_KEY_LENGTH = 40
_KEPT_SEGMENT = re.compile(r"^(?:[A-Za-z._-]*|v\d+(?:\.\d+)*)$")
"""A path segment shown as it is: a word, or an API version; any other is an id."""
_SCALARS = {bool: "boolean", int: "number", float: "number"}
"""JSON's other types by the Python type ``json`` reads them as (``null`` is the rest)."""


def endpoint(method: str, url: URL) -> str:
    """``GET /rest/v2.10/facilities/{id}/statistics``: the request without ids or query."""
    segments = [
        segment if _KEPT_SEGMENT.match(segment) else "{id}" for segment in url.path.split("/")
    ]
    return f"{method} {'/'.join(segments)}"


def shape(value: Any, depth: int = 0) -> Any:
    """The JSON structure of ``value``: object keys (digits masked), types, lengths; no value.

    A list shows its length and its first item's shape.
    """
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        keys = list(value)[:MAX_KEYS]
        found = {_masked(str(key)): shape(value[key], depth + 1) for key in keys}
        if len(value) > MAX_KEYS:
            found["…"] = f"{len(value) - MAX_KEYS} more keys"
        return found
    if isinstance(value, list):
        return {"list": len(value), "first": shape(value[0], depth + 1) if value else None}
    if isinstance(value, str):
        return f"string({len(value)})"
    return _SCALARS.get(type(value), "null")


def _masked(key: str) -> str:
    """A key as a shape shows it: digits as ``#`` (keys may be dates or ids), cut short."""
    return re.sub(r"\d", "#", key)[:MAX_KEY_LENGTH]


@dataclass(frozen=True)
class Answer:
    """The last answer of one endpoint, as a shape."""

    status: int
    content_type: str | None
    shape: Any = None
    """The JSON body's shape; None when the body was not read (an error status) or not JSON."""
