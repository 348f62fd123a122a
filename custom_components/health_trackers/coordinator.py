"""One coordinator class for every service: it polls the provider's client at the service's pace."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .auth import EntryRemovedError
from .clients.exceptions import (
    AuthenticationError,
    HealthTrackersError,
    InvalidResponseError,
    MissingScopeError,
    RateLimitedError,
    ServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
    UnexpectedAnswerError,
)
from .compat import UPDATE_FAILED_RETRY_AFTER, update_failed
from .const import BUG_REPORT_URL, CONF_PROVIDER, DOMAIN, LOGGER
from .feed import RecordFeed
from .providers.base import AccountTracker, Polled, Provider, SnapshotT, measurements

if TYPE_CHECKING:
    from .history import AccountHistory

FIRST_POLL_EARLIEST = 0.1
"""The first poll after setup comes at least this fraction of an interval after it."""


@dataclass(frozen=True)
class RateLimit:
    """The service's last 429: when, and how long it asked us to wait."""

    at: datetime
    retry_after: float | None


ERROR_MESSAGES: dict[type[HealthTrackersError], str] = {
    AuthenticationError: "authentication_failed",
    ServiceUnavailableError: "service_unavailable",
    ServiceTimeoutError: "service_timeout",
    RateLimitedError: "rate_limited",
    MissingScopeError: "missing_scope",
    InvalidResponseError: "invalid_response",
}
"""A client error's message (its key under ``exceptions`` in translations/en.json)."""


def error_message(err: HealthTrackersError) -> str:
    """The translation key of ``err``'s message: its own class's, else the nearest base's."""
    return next(
        (ERROR_MESSAGES[kind] for kind in type(err).__mro__ if kind in ERROR_MESSAGES),
        "service_error",
    )


def scope_issue_id(entry_id: str) -> str:
    """The repair issue that says an entry's credential lacks a scope."""
    return f"missing_scope_{entry_id}"


def answer_issue_id(entry_id: str) -> str:
    """The repair issue that says an entry's service answered in a shape we do not read."""
    return f"unexpected_answer_{entry_id}"


def first_poll_delay(hass: HomeAssistant, entry: ConfigEntry, interval: timedelta) -> timedelta:
    """When the first poll after setup comes: the entry's own place in the interval.

    Home Assistant sets up every entry in the same second when it starts; without this, all
    accounts of a service would hit it together at every interval. The service's entries share
    the interval evenly, each at its place by entry id, which stays put across restarts.
    """
    siblings = sorted(
        other.entry_id
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.data.get(CONF_PROVIDER) == entry.data.get(CONF_PROVIDER)
    )
    rank = siblings.index(entry.entry_id) if entry.entry_id in siblings else 0
    share = (rank + 0.5) / max(len(siblings), 1)
    return interval * (FIRST_POLL_EARLIEST + (1 - FIRST_POLL_EARLIEST) * share)


class HealthTrackersCoordinator(DataUpdateCoordinator[SnapshotT]):
    """Polls one account's tracker; auth failures start reauth, the rest mark entities unavailable."""

    config_entry: HealthTrackersConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: HealthTrackersConfigEntry,
        provider: Provider[Any, SnapshotT],
        tracker: AccountTracker[Any, SnapshotT],
        *,
        feed: RecordFeed,
        measurement_feed: RecordFeed | None = None,
        history: AccountHistory | None = None,
    ) -> None:
        """Poll at the service's documented pace, each account at its own point in it."""
        self.unique_id = entry.unique_id or entry.entry_id
        """The entry's unique id, ``<provider key>_<account id>``: the device's identifier and the
        start of its entities' unique ids and statistic ids."""
        self.first_poll_delay = first_poll_delay(hass, entry, provider.update_interval)
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=provider.update_interval,
        )
        self.provider = provider
        self.tracker = tracker
        self.feed = feed
        self.measurement_feed = measurement_feed
        """New measurements, where the provider has series (``Provider.measurements``)."""
        self.history = history
        """The account's long-term statistics; None without the recorder."""
        self.last_rate_limit: RateLimit | None = None
        self._polling = asyncio.Lock()
        """One poll at a time: two reading from the same position would hand on its records twice
        (not every supported release serialises a coordinator's refreshes itself)."""
        self.writing = asyncio.Lock()
        """One write at a time per account: two uploads of one workout racing could store it twice."""
        self.writes: Counter[str] = Counter()
        """Writes through the actions since setup, by action (``<action>_failed``: refused, lost)."""
        self._pause: float | None = None
        """Seconds the service asked us to wait at this update (429 with ``Retry-After``)."""

    async def _async_update_data(self) -> SnapshotT:
        """Poll the tracker, then set when the next poll comes."""
        self._pause = None
        try:
            return await self._async_fetch()
        finally:
            self.update_interval = self._next_interval()

    def _next_interval(self) -> timedelta:
        setting_up = self.config_entry.state is ConfigEntryState.SETUP_IN_PROGRESS
        if self._pause is not None and (setting_up or not UPDATE_FAILED_RETRY_AFTER):
            # Once: Home Assistant takes no retry_after at setup (an entry set up while its
            # service is down polls on), nor on older releases; the next update resets it.
            return timedelta(seconds=self._pause)
        if setting_up:
            return self.first_poll_delay
        return self.provider.update_interval

    async def _async_fetch(self) -> SnapshotT:
        """Poll the tracker; translate its errors into Home Assistant's."""
        try:
            async with self._polling:
                polled = await self.tracker.async_poll(self.feed.position)
        except EntryRemovedError:
            if self.data is None:
                raise
            # Deleted while a token refresh was under way: nothing to show, nothing to say.
            return self.data
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key=error_message(err),
                translation_placeholders={"service": self.provider.name},
            ) from err
        except MissingScopeError as err:
            self._raise_scope_issue(err.scope)
            if self.config_entry.state is ConfigEntryState.SETUP_IN_PROGRESS:
                # Retrying cannot help until the service grants the scope; the repair says so.
                raise ConfigEntryError(
                    translation_domain=DOMAIN,
                    translation_key="missing_scope_setup",
                    translation_placeholders={"service": self.provider.name, "scope": err.scope},
                ) from err
            raise self._update_failed(err) from err
        except ServiceError as err:
            raise self._service_failed(err) from err
        for issue_id in (scope_issue_id, answer_issue_id):
            ir.async_delete_issue(self.hass, DOMAIN, issue_id(self.config_entry.entry_id))
        self._hand_on(polled)
        return polled.snapshot

    def _service_failed(self, err: ServiceError) -> Exception:
        """What a poll the service could not answer raises; a repair or a pause where it says so."""
        if isinstance(err, UnexpectedAnswerError):
            self._raise_answer_issue(err)
        if isinstance(err, RateLimitedError):
            self.last_rate_limit = RateLimit(dt_util.utcnow(), err.retry_after)
            # Never sooner than the usual pace: Retry-After says "not before".
            interval = self.provider.update_interval.total_seconds()
            self._pause = None if err.retry_after is None else max(err.retry_after, interval)
        return self._update_failed(err)

    def _hand_on(self, polled: Polled[SnapshotT]) -> None:
        """Give the poll's new records to the events and the history."""
        state = self.config_entry.state
        if state not in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_IN_PROGRESS):
            # The account unloaded while this poll waited for its answer (its event entity is
            # gone): what it read is for the next setup, which reads it again from the cursor.
            return
        if not polled.complete:
            LOGGER.warning(
                "%s: more new records than one poll reads; the newest %s handed on, older skipped",
                self.name,
                len(polled.new),
            )
        setting_up = state is ConfigEntryState.SETUP_IN_PROGRESS
        self.feed.receive(polled, setting_up=setting_up)
        if self.history is not None:
            self.history.receive(polled.new)
        described, feed = self.provider.measurements, self.measurement_feed
        if described is None or feed is None:
            return
        if (series := described.series_fn(polled.snapshot)) is not None:
            found = measurements(series)
            feed.receive_whole(found, setting_up=setting_up)
            if self.history is not None:
                self.history.receive_measurements(found)

    def _update_failed(self, err: ServiceError) -> Exception:
        return update_failed(
            self._pause,
            translation_domain=DOMAIN,
            translation_key=error_message(err),
            translation_placeholders={"service": self.provider.name, "detail": str(err)},
        )

    def _raise_scope_issue(self, scope: str) -> None:
        """A repair the user can act on: ask the service to add the scope to their app."""
        self._raise_issue(scope_issue_id, "missing_scope", scope=scope)

    def _raise_answer_issue(self, err: UnexpectedAnswerError) -> None:
        """Tell the user, once, that the service answers otherwise than we assumed, and where.

        The services' data APIs are partly assumptions; a report with the diagnostics (shapes,
        no values) is what lets us read the real answer: the repair links the bug form.
        """
        self._raise_issue(
            answer_issue_id,
            "unexpected_answer",
            learn_more_url=BUG_REPORT_URL,
            endpoint=err.endpoint,
            expected=err.expected,
        )

    def _raise_issue(
        self,
        issue_id: Callable[[str], str],
        key: str,
        learn_more_url: str | None = None,
        **placeholders: str,
    ) -> None:
        """The entry's repair ``key`` (one per entry), naming the service and the account."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id(self.config_entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            learn_more_url=learn_more_url,
            translation_key=key,
            translation_placeholders={
                "service": self.provider.name,
                "account": self.config_entry.title,
                **placeholders,
            },
        )


# A plain alias, not a ``type`` statement: the HACS/hassfest checks parse the code with Python 3.11.
HealthTrackersConfigEntry = ConfigEntry[HealthTrackersCoordinator[Any]]
