"""Differences between the Home Assistant releases we support (2025.4 up to the current one)."""

try:
    # Home Assistant 2026 validates flow forms with probatio, voluptuous' successor.
    import probatio as vol
except ImportError:  # Home Assistant 2025
    import voluptuous as vol  # type: ignore[no-redef]

__all__ = ["vol"]
