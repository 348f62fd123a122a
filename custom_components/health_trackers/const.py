"""Constants for the Health Trackers integration."""

import logging

DOMAIN = "health_trackers"
LOGGER = logging.getLogger(__package__)

BUG_REPORT_URL = (
    "https://github.com/health-trackers/health_trackers/issues/new?template=bug_report.yml"
)
"""The project's bug form, which asks for the diagnostics download."""

README_URL = "https://github.com/health-trackers/health_trackers#readme"
"""Where texts in the UI send a user for what they need from a service (keys, redirect URLs)."""

CONF_PROVIDER = "provider"
"""Key in a config entry's data: the key of the provider that serves it (``boditrax_facility``)."""

CONF_PERSONAL_DATA = "personal_data"
"""Option: create the provider's personal sensors (where and with what notes a reading was taken)."""

ATTR_MEASURED_AT = "measured_at"
"""When a value or record was measured (ISO 8601), on sensors and in event data."""
MAX_TEXT_LENGTH = 255
"""Home Assistant refuses longer states; texts in states and events are cut to this."""
