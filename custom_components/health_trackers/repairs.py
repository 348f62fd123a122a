"""Repairs a user can act on: a history import that keeps failing is tried again at "Submit"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

if TYPE_CHECKING:
    from homeassistant.components.repairs import RepairsFlowResult


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The flow of the one fixable repair, ``history_failing``: its data names the entry."""
    return RetryHistoryFlow(str((data or {}).get("entry_id")))


class RetryHistoryFlow(ConfirmRepairFlow):
    """Shows what failed and what the user can do; "Submit" starts the import again now."""

    def __init__(self, entry_id: str) -> None:
        """The flow of the entry whose import failed."""
        super().__init__()
        self._entry_id = entry_id

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Try the import again; the repair goes (and comes back if it fails again)."""
        if user_input is not None:
            entry = self.hass.config_entries.async_get_entry(self._entry_id)
            if (
                entry is None
                or entry.state is not ConfigEntryState.LOADED
                or entry.runtime_data.history is None
            ):
                return self.async_abort(reason="not_loaded")
            entry.runtime_data.history.retry_now()
        return await super().async_step_confirm(user_input)
