"""The base of every entity: one service device per account."""

from __future__ import annotations

from typing import Any

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import HealthTrackersCoordinator


def entity_unique_id(coordinator: HealthTrackersCoordinator[Any], key: str) -> str:
    """``<service>_<account>_<key>``: stable across reloads and new sign-ins of the same account."""
    return f"{coordinator.unique_id}_{key}"


class HealthTrackersEntity(CoordinatorEntity[HealthTrackersCoordinator[Any]]):
    """Names itself by translation key and belongs to its account's device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: HealthTrackersCoordinator[Any], key: str) -> None:
        """Unique id ``<service>_<account>_<key>``; device per account."""
        super().__init__(coordinator)
        provider = coordinator.provider
        self._attr_unique_id = entity_unique_id(coordinator, key)
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, coordinator.unique_id)},
            name=coordinator.config_entry.title,
            manufacturer=provider.name,
            # "Account by SportTracks", "Facility by Boditrax".
            model=provider.device_model,
            entry_type=DeviceEntryType.SERVICE,
            configuration_url=provider.configuration_url,
        )
