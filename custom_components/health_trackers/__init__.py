"""Health Trackers: BACtrack, Boditrax and SportTracks accounts as Home Assistant sensors."""

from __future__ import annotations

from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import (
    config_validation as cv,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.typing import ConfigType

from .auth import RefreshTokenJournal, async_authenticator
from .clients.base import ServiceClient
from .const import CONF_PROVIDER, DOMAIN, LOGGER
from .coordinator import (
    HealthTrackersConfigEntry,
    HealthTrackersCoordinator,
    answer_issue_id,
    scope_issue_id,
)
from .feed import RecordFeed
from .history import AccountHistory, history_issue_id, history_store
from .providers import PROVIDERS
from .providers.base import Provider
from .services import async_setup_services

MEASUREMENTS = "measurements"
"""The feed of new measurements (``Provider.measurements``), beside the records' events."""
PLATFORMS: list[Platform] = [Platform.CALENDAR, Platform.EVENT, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

OBSOLETE_OPTIONS = ("update_interval",)
"""Options earlier versions stored: a user-set poll interval (polling now follows the service)."""
PROVIDER_BEFORE_2 = "service"
"""Where entries of version 1 stored their provider's key (which is not always the service's)."""


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, whether or not an account is set up yet."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> bool:
    """Connect the entry's account and fetch its first values."""
    if (provider := PROVIDERS.get(entry.data.get(CONF_PROVIDER, ""))) is None:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="unknown_service",
            translation_placeholders={"service": str(entry.data.get(CONF_PROVIDER))},
        )
    auth = await async_authenticator(hass, entry, provider)
    tracker = provider.tracker(hass, auth, entry.unique_id or "")
    feed = RecordFeed(hass, entry.entry_id)
    await feed.async_load()
    measurement_feed = None
    if provider.measurements is not None:
        measurement_feed = RecordFeed(hass, entry.entry_id, MEASUREMENTS)
        await measurement_feed.async_load()
    history = _history(hass, entry, provider, tracker.client)
    if history is not None:
        await history.async_load()
    coordinator = HealthTrackersCoordinator(
        hass,
        entry,
        provider,
        tracker,
        feed=feed,
        measurement_feed=measurement_feed,
        history=history,
    )
    await _async_first_refresh(hass, entry, coordinator)
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if history is not None:
        _start_history(entry, coordinator, history)
    return True


@callback
def _start_history(
    entry: HealthTrackersConfigEntry,
    coordinator: HealthTrackersCoordinator[Any],
    history: AccountHistory,
) -> None:
    """Import the account's history once its service has answered a poll.

    After a start while the service was down, only then: earlier, the import would fail and
    raise its repair for an outage the sensors already show.
    """
    started = False

    @callback
    def start_once_answered() -> None:
        nonlocal started
        if coordinator.last_update_success and not started:
            started = True
            history.start()

    start_once_answered()
    if not started:
        entry.async_on_unload(coordinator.async_add_listener(start_once_answered))


def _history(
    hass: HomeAssistant,
    entry: HealthTrackersConfigEntry,
    provider: Provider[Any, Any],
    client: ServiceClient[Any, Any],
) -> AccountHistory | None:
    """The account's long-term statistics; none without the recorder (or statistics)."""
    if not provider.statistics or "recorder" not in hass.config.components:
        return None
    return AccountHistory(hass, entry, client, provider)


async def _async_first_refresh(
    hass: HomeAssistant,
    entry: HealthTrackersConfigEntry,
    coordinator: HealthTrackersCoordinator[Any],
) -> None:
    """The first poll; an account set up before goes on without it while its service is down.

    Its sensors then show their values from before the restart until the service answers (the
    coordinator keeps polling at its pace). A new account has nothing to show: Home Assistant
    retries its setup. A refused sign-in or a missing scope stops the setup either way.
    """
    try:
        await coordinator.async_config_entry_first_refresh()
    except ConfigEntryNotReady:
        if not er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
            raise
        # As Home Assistant logs an entry not ready: at info level, common while a network starts.
        LOGGER.info(
            "Fetching %s data failed at start: %s; its sensors show their last values until it"
            " recovers",
            coordinator.name,
            coordinator.last_exception,
        )


async def async_unload_entry(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> bool:
    """Stop polling and remove the entities; the event cursor is on disk before the next setup."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    coordinator = entry.runtime_data
    for feed in (coordinator.feed, coordinator.measurement_feed):
        if feed is not None:
            await feed.async_flush()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> None:
    """Leave nothing of the account behind but its statistics: repairs and stored files go.

    Its long-term statistics stay in the recorder (Developer tools → Statistics removes them);
    adding the account again imports into the same statistics.
    """
    ir.async_delete_issue(hass, DOMAIN, scope_issue_id(entry.entry_id))
    ir.async_delete_issue(hass, DOMAIN, history_issue_id(entry.entry_id))
    ir.async_delete_issue(hass, DOMAIN, answer_issue_id(entry.entry_id))
    await RefreshTokenJournal(hass, entry.entry_id).async_remove()
    await RecordFeed(hass, entry.entry_id).async_remove()
    await RecordFeed(hass, entry.entry_id, MEASUREMENTS).async_remove()
    await history_store(hass, entry.entry_id).async_remove()


async def async_migrate_entry(hass: HomeAssistant, entry: HealthTrackersConfigEntry) -> bool:
    """Bring entries of earlier versions up to date, keeping everything else as it was.

    1.2: the user-set poll interval option is gone; each service polls at its own pace.
    2.1: the provider's key is stored as ``provider`` (1.x: ``service``, although a Boditrax
    facility's is ``boditrax_facility``). A major version: a release that reads ``service``
    refuses the entry rather than misread it.
    """
    if entry.version > 2:
        # A newer version of the integration wrote this entry; it cannot be read back.
        return False
    if entry.version == 1:
        options = {
            key: value for key, value in entry.options.items() if key not in OBSOLETE_OPTIONS
        }
        data = {key: value for key, value in entry.data.items() if key != PROVIDER_BEFORE_2}
        data[CONF_PROVIDER] = entry.data.get(PROVIDER_BEFORE_2)
        hass.config_entries.async_update_entry(
            entry, data=data, options=options, version=2, minor_version=1
        )
        LOGGER.debug("Migrated %s to version 2.1", entry.title)
    return True
