"""The fault matrix as a table at the end of the run (so also with ``-q`` and with xdist).

Each row of ``test_fault_matrix`` attaches its ``Row`` to its report; the process that prints
the summary (the only one, or xdist's controller) gathers them from the reports it receives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from homeassistant.const import __version__ as HA_VERSION
import pytest

PROPERTY = "fault_matrix_row"


@dataclass
class Row:
    """How one row went."""

    service: str
    scope: str
    fault: str
    survived: bool = False
    tokens_lost: bool = False
    failure: str = ""
    known: str = ""
    """Why the row is expected to fail (its xfail reason), if it is."""

    def attach(self, item: pytest.Item) -> None:
        """Send the row along with the test's report."""
        item.user_properties.append((PROPERTY, asdict(self)))

    @property
    def cell(self) -> str:
        """The row's cell in the table."""
        verdict = "ok" if self.survived else "xfail" if self.known else "FAILED"
        return verdict + (", tokens lost" if self.tokens_lost else "")


class MatrixReport:
    """Gathers the rows from the test reports and prints them in pytest's terminal summary."""

    def __init__(self) -> None:
        """No rows yet."""
        self.rows: dict[tuple[str, str, str], Row] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep a row's outcome, from the report of its call."""
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                row = Row(**value)
                self.rows[row.service, row.scope, row.fault] = row

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Totals per service, then every row."""
        if not self.rows:
            return
        write = terminalreporter.write_line
        services = list(dict.fromkeys(service for service, _, _ in sorted(self.rows)))
        terminalreporter.section(f"fault matrix (issue 10), Home Assistant {HA_VERSION}")
        write(f"{'service':<18} {'tried':>5} {'survived':>8} {'tokens lost':>11}")
        for service in services:
            rows = [row for row in self.rows.values() if row.service == service]
            write(
                f"{service:<18} {len(rows):>5} "
                f"{sum(r.survived for r in rows):>8} {sum(r.tokens_lost for r in rows):>11}"
            )
        write("")
        faults = sorted(
            dict.fromkeys((row.scope, row.fault) for row in self.rows.values()),
            key=lambda fault: fault[0],  # data, then token; each in the order the rows ran
        )
        width = max(len(f"{scope} {fault}") for scope, fault in faults) + 2
        write(f"{'fault':<{width}}" + "".join(f"{s:<20}" for s in services))
        for scope, fault in faults:
            cells = [
                row.cell if (row := self.rows.get((service, scope, fault))) else "-"
                for service in services
            ]
            write(f"{scope + ' ' + fault:<{width}}" + "".join(f"{cell:<20}" for cell in cells))
        write("(xfail: fails as expected, an integration bug being fixed; - : does not apply)")
        for row in self.rows.values():
            if not row.survived:
                verdict = "xfail" if row.known else "FAILED"
                write(f"{verdict} {row.service} {row.scope} {row.fault}: {row.failure}")
