"""Named steps, so a failure says which step failed, and a polling helper for eventual states."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from dataclasses import dataclass
from pathlib import Path
import time

WAIT_SECONDS = 30
"""How long a state Home Assistant reaches on its own (loaded entry, reauth flow) may take."""


class StepFailed(Exception):
    """What a step expected did not happen; the message says what was seen instead."""


@dataclass
class Steps:
    """The steps of one scenario on one release; ``current`` is the one running or failed."""

    label: str
    directory: Path
    current: str = "(not started)"

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run one step; it stays ``current`` if it raises."""
        self.current = name
        started = time.monotonic()
        yield
        print(f"  {self.label}: {name} ({time.monotonic() - started:.1f}s)", flush=True)


async def wait_until[T](
    probe: Callable[[], Awaitable[T | None]], what: str, seconds: float = WAIT_SECONDS
) -> T:
    """Call ``probe`` until it returns something other than None; fail after ``seconds``.

    ``probe`` may raise StepFailed to explain the state it saw; the last explanation is kept.
    """
    last = "nothing seen yet"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if (found := await probe()) is not None:
                return found
        except StepFailed as err:
            last = str(err)
        await asyncio.sleep(0.5)
    raise StepFailed(f"{what}: not within {seconds:.0f}s ({last})")
