"""The clean-log rule: Home Assistant logs no WARNING or ERROR about the integration.

Read after every part of a release's run (its start, each scenario with the restarts inside it,
its stop), from the run directory's ``home-assistant.log``, which holds every Home Assistant
process of the run one after the other (``config/home-assistant.log`` keeps only the last two).
A log record starts with a line ``<date> <time> <LEVEL> (<thread>) [<logger>] <message>``; the
lines up to the next such line (a traceback) belong to it. A record breaks the rule if it:

- carries a traceback through ``custom_components/health_trackers`` (any level);
- is Home Assistant reporting the integration's code, ``Detected … custom integration
  'health_trackers'``: ``homeassistant.helpers.frame``'s "Detected that custom integration
  'health_trackers' …" (deprecated use), ``homeassistant.util.loop``'s blocking calls;
- is a WARNING or ERROR of the ``custom_components.health_trackers`` logger, or of another
  logger naming ``health_trackers`` (say, the frontend failing to format one of its strings),
  that the scenario did not declare as expected.

The one line allowed without a declaration is Home Assistant's notice at every start that the
custom integration was not tested by Home Assistant. A scenario declares a line it expects with
a regular expression searched in the record's message (its first line after the prefix;
``re.escape`` text with any of ``.^$*+?()[]{}|``). Tracebacks and "Detected" lines cannot be
declared away: the integration fixes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
import re

from scripts.demo import DOMAIN

PREFIX = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?(?:[+-]\d\d:?\d\d|Z)? "
    r"(?P<level>[A-Z]+) \((?P<thread>[^)]*)\) \[(?P<logger>[^\]]+)\] "
)
LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
LOGGER = f"custom_components.{DOMAIN}"
NOTICE = re.compile(rf"We found a custom integration {DOMAIN} which has not been tested")
"""The one line about the integration that is allowed: Home Assistant's notice at every start."""
DETECTED = re.compile(rf"Detected\b.*\bcustom integration '{DOMAIN}'")
NAMES_IT = re.compile(rf"\b{DOMAIN}\b")
OWN_FRAME = re.compile(rf'^\s*File ".*custom_components/{DOMAIN}/')
"""A traceback frame in the integration's code (also when a traceback arrives in pieces)."""
SHOWN = 240
"""Characters of a record's first line that reports show."""


@dataclass(frozen=True)
class Record:
    """One log record: where it starts in the log, its level and logger, and its lines."""

    line: int
    level: str
    """Empty for lines before the segment's first prefixed line (the end of an earlier record)."""
    logger: str
    lines: tuple[str, ...]

    @property
    def message(self) -> str:
        """The first line without its prefix: what expected lines are searched in."""
        return PREFIX.sub("", self.lines[0], count=1)

    @property
    def text(self) -> str:
        """All its lines."""
        return "\n".join(self.lines)

    def __str__(self) -> str:
        """Its first line and where it is."""
        return f"home-assistant.log:{self.line}: {_cut(self.lines[0], SHOWN)}"


@dataclass(frozen=True)
class Breach:
    """A record that breaks the rule, and which part of the rule."""

    record: Record
    reason: str

    def __str__(self) -> str:
        """The record's first line, where it is and why it breaks the rule."""
        return f"{self.record} ({self.reason})"

    def short(self) -> str:
        """Where the record is and what it says, without its time and thread."""
        record = self.record
        if not record.level:
            return f"home-assistant.log:{record.line}: {record.lines[0].strip()}"
        return (
            f"home-assistant.log:{record.line}: {record.level} [{record.logger}] {record.message}"
        )


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else f"{text[: width - 1]}…"


def parse(text: str, first_line: int = 1) -> list[Record]:
    """Split log text into records; ``first_line`` is the log's line number of its first line."""
    records: list[Record] = []
    level = logger = ""
    lines: list[str] = []
    start = first_line
    for number, line in enumerate(text.removesuffix("\n").split("\n") if text else [], first_line):
        if (prefix := PREFIX.match(line)) is not None:
            if lines:
                records.append(Record(start, level, logger, tuple(lines)))
            level, logger, lines, start = prefix["level"], prefix["logger"], [], number
        lines.append(line)
    if lines:
        records.append(Record(start, level, logger, tuple(lines)))
    return records


def breach(record: Record, expected: Iterable[str] = ()) -> Breach | None:
    """How ``record`` breaks the rule, given the scenario's expected lines; None if it does not."""
    message = record.message
    if any(OWN_FRAME.match(line) for line in record.lines):
        return Breach(record, f"a traceback through custom_components/{DOMAIN}")
    if record.level not in LEVELS:
        return None
    if DETECTED.search(message):
        return Breach(record, "Home Assistant reports the integration's code")
    ours = record.logger == LOGGER or record.logger.startswith(f"{LOGGER}.")
    if not ours and (NOTICE.search(message) or not NAMES_IT.search(message)):
        return None
    if any(re.search(pattern, message) for pattern in expected):
        return None
    where = f"from the {LOGGER} logger" if ours else f"naming {DOMAIN}"
    return Breach(record, f"{record.level} {where}, not declared as expected by the scenario")


def breaches(records: Iterable[Record], expected: Iterable[str] = ()) -> list[Breach]:
    """The records that break the rule."""
    expected = tuple(expected)
    return [found for record in records if (found := breach(record, expected)) is not None]


class LogReader:
    """Reads the records Home Assistant appended to its log since the last read."""

    def __init__(self, path: Path) -> None:
        """Start at the beginning of ``path`` (which may not exist yet)."""
        self.path = path
        self._offset = 0
        self._lines = 0

    def read(self) -> list[Record]:
        """The records of the complete lines written since the last call."""
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except FileNotFoundError:
            return []
        data = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next read
        self._offset += len(data)
        text = data.decode("utf-8", errors="replace")
        records = parse(text, self._lines + 1)
        self._lines += text.count("\n")
        return records
