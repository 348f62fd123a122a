"""Differences between the Home Assistant releases we support (2025.4 up to the current one)."""

from collections.abc import Mapping
from http import HTTPStatus
import inspect
from typing import Any, cast

from aiohttp import ClientResponseError, web
from homeassistant import data_entry_flow
from homeassistant.components.recorder.models import StatisticMeanType, StatisticMetaData
from homeassistant.components.recorder.statistics import STATISTIC_UNIT_TO_UNIT_CONVERTER
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_entry_oauth2_flow
from homeassistant.helpers.update_coordinator import UpdateFailed

REFUSED = frozenset({HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED})
"""Token-endpoint answers that mean the grant is gone (invalid_grant, invalid_client): reauth."""

# Flow forms must use the schema library Home Assistant's flows are built on.
if hasattr(data_entry_flow, "probatio"):  # 2026: probatio, voluptuous' successor
    import probatio as vol
else:  # 2025: voluptuous
    import voluptuous as vol  # type: ignore[no-redef]

try:
    from homeassistant.exceptions import (
        OAuth2TokenRequestError,
        OAuth2TokenRequestReauthError,
        OAuth2TokenRequestTransientError,
    )
except ImportError:  # before 2026.3, callers of a token request expect aiohttp's own error

    def token_request_error(err: ClientResponseError, domain: str) -> ClientResponseError:
        """Return the failed token request's error as Home Assistant's own requests raise it."""
        return err

else:

    def token_request_error(err: ClientResponseError, domain: str) -> ClientResponseError:
        """Return the failed token request's error as Home Assistant's own requests raise it.

        Only a refused grant asks for reauth; anything else (429, 5xx, a proxy's 403) is retried.
        """
        kind: type[OAuth2TokenRequestError] = (
            OAuth2TokenRequestReauthError
            if err.status in REFUSED
            else OAuth2TokenRequestTransientError
        )
        return kind(
            request_info=err.request_info,
            history=err.history,
            status=err.status,
            message=err.message,
            headers=err.headers,
            domain=domain,
        )


try:
    from homeassistant.config_entries import OptionsFlowWithReload
except ImportError:  # older releases (2025.4): an options flow cannot ask for a reload itself

    class OptionsFlowWithReload(OptionsFlow):  # type: ignore[no-redef]
        """Reload the entry when the flow saves changed options, as later releases do.

        The options are saved here first (the manager saves the same ones again, a no-op), so
        the reload always starts with the new options.
        """

        @callback
        def async_create_entry(  # type: ignore[override,unused-ignore]
            self,
            *,
            data: Mapping[str, Any],
            title: str = "",
            description_placeholders: Mapping[str, str] | None = None,
        ) -> ConfigFlowResult:
            """Save the options; reload when they changed."""
            if self.hass.config_entries.async_update_entry(self.config_entry, options=data):
                self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)
            return super().async_create_entry(
                data=data, title=title, description_placeholders=description_placeholders
            )


try:
    from homeassistant.helpers.config_entry_oauth2_flow import ImplementationUnavailableError
except ImportError:  # older releases (2025.4): a credential provider is never unavailable

    class ImplementationUnavailableError(HomeAssistantError):  # type: ignore[no-redef]
        """Never raised on these releases."""


UPDATE_FAILED_RETRY_AFTER = "retry_after" in inspect.signature(UpdateFailed.__init__).parameters
"""Whether a failed update can say when to try again (not on 2025.4: the interval is stretched)."""


def update_failed(retry_after: float | None, **kwargs: Any) -> UpdateFailed:
    """``UpdateFailed`` carrying ``retry_after`` where the release understands it."""
    if UPDATE_FAILED_RETRY_AFTER and retry_after is not None:
        return UpdateFailed(retry_after=retry_after, **kwargs)  # type: ignore[call-arg,unused-ignore]
    return UpdateFailed(**kwargs)


_METADATA_HAS_UNIT_CLASS = "unit_class" in StatisticMetaData.__annotations__


def statistic_metadata(
    *, statistic_id: str, source: str, name: str | None, unit: str | None, summed: bool
) -> StatisticMetaData:
    """A statistic's metadata with the fields the running release asks for.

    ``mean_type`` on every release; ``unit_class`` where the release knows it (2025.11 and later
    warn without it, 2025.4 has no such field), the class the recorder itself would derive.
    """
    fields: dict[str, Any] = {
        "statistic_id": statistic_id,
        "source": source,
        "name": name,
        "unit_of_measurement": unit,
        "has_sum": summed,
        "mean_type": StatisticMeanType.NONE if summed else StatisticMeanType.ARITHMETIC,
    }
    if _METADATA_HAS_UNIT_CLASS:
        converter = STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit)
        fields["unit_class"] = converter.UNIT_CLASS if converter else None
    return cast(StatisticMetaData, fields)


def current_request() -> web.Request | None:
    """The HTTP request being served; its ``HA-Frontend-Base`` header is the browser's address.

    Read where Home Assistant's own OAuth2 flow reads it: the context variable lives in
    ``components.http`` up to 2025 and in ``helpers.http`` since, and test harnesses of each
    release stand in for it there.
    """
    request: web.Request | None = config_entry_oauth2_flow.http.current_request.get()  # type: ignore[attr-defined]
    return request


__all__ = [
    "REFUSED",
    "UPDATE_FAILED_RETRY_AFTER",
    "ImplementationUnavailableError",
    "OptionsFlowWithReload",
    "current_request",
    "statistic_metadata",
    "token_request_error",
    "update_failed",
    "vol",
]
