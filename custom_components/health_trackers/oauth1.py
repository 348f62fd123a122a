"""OAuth 1.0a (RFC 5849) in Home Assistant: the entry's signer, the dance's session, the callback view.

Home Assistant has helpers for OAuth 2.0 only; signing and the token requests are in
``clients/oauth1.py``; requests go over Home Assistant's shared session. The provider redirects
the user's browser to ``CALLBACK_PATH`` with the request token it issued; the view resumes exactly the flow that asked for that token, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
import time
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import UnknownFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.config_entry_oauth2_flow import HEADER_FRONTEND_BASE
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import get_url
from homeassistant.util.hass_dict import HassKey

from .clients.oauth1 import OAuth1Dance, OAuth1Signer, OAuth1Token
from .compat import current_request
from .const import DOMAIN, LOGGER
from .provider import Provider

CALLBACK_PATH = f"/api/{DOMAIN}/oauth1/callback"
REQUEST_TOKEN_LIFETIME = 600
"""How long the callback waits for the browser; a request token is not used later than this."""

CONF_CONSUMER_KEY = "consumer_key"
CONF_CONSUMER_SECRET = "consumer_secret"
CONF_ACCESS_TOKEN = "access_token"
CONF_ACCESS_TOKEN_SECRET = "access_token_secret"

SIGNED_IN_STEP = "oauth1_finish"
"""The flow step after a callback whose sign-in worked; the callback page says so."""
REJECTED_STEP = "authorize_rejected"
"""The flow step after the user denied access on the service's page."""


def _closing_page(message: str) -> str:
    return (
        f"<!doctype html><html><body><p>{message}</p><script>window.close()</script></body></html>"
    )


SIGNED_IN_PAGE = _closing_page("Signed in. This window can be closed.")
NOT_GRANTED_PAGE = _closing_page(
    "Access was not granted. This window can be closed; Home Assistant says what to do next."
)
NOT_SIGNED_IN_PAGE = _closing_page(
    "Signing in did not work. This window can be closed; Home Assistant says why."
)
CONTINUE_PAGE = _closing_page("This window can be closed; Home Assistant finishes signing in.")
REFUSED_PAGE = (
    "<!doctype html><html><body><h1>This sign-in link cannot be used</h1>"
    "<p>It is unknown, expired or was already used, or belongs to another browser. Close this "
    "window and add the account again in Home Assistant.</p></body></html>"
)
NO_STORE = {"Cache-Control": "no-store"}


def callback_page(text: str, status: HTTPStatus = HTTPStatus.OK) -> web.Response:
    """A page for the sign-in window; never cached (it answers a one-time link)."""
    return web.Response(status=status, text=text, content_type="text/html", headers=NO_STORE)


def browser_url(hass: HomeAssistant, path: str) -> str:
    """``path`` on the Home Assistant address the user's browser is using.

    Services send the browser back there, so it must be the address the browser knows; without
    a browser request, the configured one. Shared by the OAuth 1.0a callback and the OAuth 2.0
    views of ``oauth2_redirect``. NoURLAvailableError: Home Assistant knows no address of its own.
    """
    request = current_request()
    base = request.headers.get(HEADER_FRONTEND_BASE) if request is not None else None
    return (base or get_url(hass, allow_cloud=False)) + path


def signer_for_entry(data: Mapping[str, Any]) -> OAuth1Signer:
    """The signer for a config entry's stored consumer and access token."""
    return OAuth1Signer(
        data[CONF_CONSUMER_KEY],
        data[CONF_CONSUMER_SECRET],
        OAuth1Token(data[CONF_ACCESS_TOKEN], data[CONF_ACCESS_TOKEN_SECRET]),
    )


def oauth1_dance(
    hass: HomeAssistant, provider: Provider[Any, Any], consumer_key: str, consumer_secret: str
) -> OAuth1Dance:
    """The token requests of ``provider`` for one consumer, over Home Assistant's shared session."""
    assert provider.oauth1 is not None
    return OAuth1Dance(
        async_get_clientsession(hass),
        provider.origin,
        provider.oauth1,
        (consumer_key, consumer_secret),
        query=provider.client_type.query,
    )


@dataclass
class _Waiting:
    flow_id: str
    expires_at: float


DATA_WAITING: HassKey[dict[str, _Waiting]] = HassKey(f"{DOMAIN}_oauth1_waiting")
"""Request token → the flow waiting for the browser to come back with it."""


@callback
def async_expect_callback(hass: HomeAssistant, request_token: OAuth1Token, flow_id: str) -> None:
    """Let the callback view resume ``flow_id`` when the browser brings ``request_token`` back."""
    if DATA_WAITING not in hass.data:
        hass.data[DATA_WAITING] = {}
        hass.http.register_view(OAuth1CallbackView())
    # One flow, one request token: an earlier one (a form submitted twice) resumes nothing.
    async_forget_flow(hass, flow_id)
    hass.data[DATA_WAITING][request_token.token] = _Waiting(
        flow_id, time.monotonic() + REQUEST_TOKEN_LIFETIME
    )


@callback
def async_forget_flow(hass: HomeAssistant, flow_id: str) -> None:
    """A flow ended: its request tokens no longer resume anything."""
    waiting = hass.data.get(DATA_WAITING, {})
    for token in [token for token, item in waiting.items() if item.flow_id == flow_id]:
        del waiting[token]


class OAuth1CallbackView(HomeAssistantView):
    """Where the provider sends the browser back; no Home Assistant login, the token is the key."""

    url = CALLBACK_PATH
    name = f"api:{DOMAIN}:oauth1:callback"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Resume the flow that issued the request token, at most once, then close the window.

        The flow trades the verifier before it answers, so the page says how signing in ended.
        """
        hass = request.app[KEY_HASS]
        token = request.query.get("oauth_token") or request.query.get("denied", "")
        waiting = hass.data[DATA_WAITING].pop(token, None)
        if waiting is None or waiting.expires_at < time.monotonic():
            LOGGER.debug("OAuth 1.0a callback with an unknown, expired or used request token")
            return callback_page(REFUSED_PAGE, HTTPStatus.BAD_REQUEST)
        user_input = (
            {"denied": True}
            if "denied" in request.query
            else {"oauth_token": token, "oauth_verifier": request.query.get("oauth_verifier", "")}
        )
        try:
            result = await hass.config_entries.flow.async_configure(waiting.flow_id, user_input)
            # 2025.4 answers even for a flow closed meanwhile; the flow must still be there.
            hass.config_entries.flow.async_get(waiting.flow_id)
        except UnknownFlow:  # closed while the verifier was being traded
            LOGGER.debug("OAuth 1.0a callback for a flow that has ended")
            return callback_page(REFUSED_PAGE, HTTPStatus.BAD_REQUEST)
        pages = {SIGNED_IN_STEP: SIGNED_IN_PAGE, REJECTED_STEP: NOT_GRANTED_PAGE}
        return callback_page(pages.get(str(result.get("step_id")), NOT_SIGNED_IN_PAGE))
