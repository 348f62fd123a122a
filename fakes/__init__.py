"""Fake BACtrack, Boditrax and SportTracks services that speak real HTTP on 127.0.0.1.

Tests, the demo and benchmarks point the integration at these through the
``HEALTH_TRACKERS_<SERVICE>_URL`` development variables. Each fake keeps real OAuth state
(expiring tokens, single-use codes, rotating refresh tokens) and can be told to misbehave.
"""

from .bactrack import BACReading, BACtrackUser, FakeBACtrack
from .base import AddedRecord, FakeService, Fault, RecordedRequest
from .boditrax import BoditraxMember, FakeBoditrax, Reading
from .oauth1 import OAuth1Consumer, OAuth1Service
from .oauth2 import OAuth2Client
from .sporttracks import FakeSportTracks, SportTracksAccount

FAKE_SERVICES: dict[str, type[FakeService]] = {
    "bactrack": FakeBACtrack,
    "boditrax": FakeBoditrax,
    "sporttracks": FakeSportTracks,
}

__all__ = [
    "FAKE_SERVICES",
    "AddedRecord",
    "BACReading",
    "BACtrackUser",
    "BoditraxMember",
    "FakeBACtrack",
    "FakeBoditrax",
    "FakeService",
    "FakeSportTracks",
    "Fault",
    "OAuth1Consumer",
    "OAuth1Service",
    "OAuth2Client",
    "Reading",
    "RecordedRequest",
    "SportTracksAccount",
]
