"""Every service this integration supports, one module each."""

from typing import Any

from ..provider import Provider
from .bactrack import BACTRACK
from .boditrax import BODITRAX
from .sporttracks import SPORTTRACKS

PROVIDERS: dict[str, Provider[Any, Any]] = {
    provider.service: provider for provider in (BACTRACK, BODITRAX, SPORTTRACKS)
}
