"""Every provider, by key: one module per service (Boditrax's holds its members and its gyms)."""

from typing import Any

from .bactrack import BACTRACK
from .base import Provider
from .boditrax import BODITRAX, BODITRAX_FACILITY
from .sporttracks import SPORTTRACKS

PROVIDERS: dict[str, Provider[Any, Any]] = {
    provider.key: provider for provider in (BACTRACK, BODITRAX, BODITRAX_FACILITY, SPORTTRACKS)
}
