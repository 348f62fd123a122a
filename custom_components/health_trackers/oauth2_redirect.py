"""OAuth 2.0 sign-in for services that may not echo ``state``: our own authorize and callback views.

Home Assistant's ``/auth/external/callback`` finds the flow by the ``state`` it signed, so a
service that sends the browser back without ``state`` (Boditrax documents none) leaves the flow
waiting forever. For such services the external step opens ``AUTHORIZE_PATH`` with a single-use
ticket instead. That view sets a cookie bound to the flow and sends the browser on to the service
with a ``state`` of our own; ``CALLBACK_PATH`` then resumes the flow named by ``state`` or, when
the service dropped it, by the cookie. A code pushed into someone else's browser (login CSRF)
needs our ``state``, which nobody else learns, or that browser's cookie: then it can only end a
sign-in that browser itself started, at most ``LIFETIME`` seconds before, and only once.

Tickets, states and cookies are random, single use and kept in memory only: a restart ends every
flow anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
import secrets
import time
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import UnknownFlow
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .const import DOMAIN, LOGGER
from .oauth1 import (
    CONTINUE_PAGE,
    NO_STORE,
    NOT_GRANTED_PAGE,
    REFUSED_PAGE,
    callback_page,
)

PREFIX = f"/api/{DOMAIN}/oauth2"
AUTHORIZE_PATH = f"{PREFIX}/authorize"
CALLBACK_PATH = f"{PREFIX}/callback"
COOKIE = f"{DOMAIN}_oauth2"
LIFETIME = 600
"""Seconds a ticket, and then the state and cookie it turned into, stay usable."""


@dataclass
class _SignIn:
    """One flow's sign-in: the service's authorize URL (all but ``state``) and our callback."""

    flow_id: str
    service_url: URL
    redirect_uri: str
    expires_at: float = field(default_factory=lambda: time.monotonic() + LIFETIME)

    @property
    def expired(self) -> bool:
        """Past its lifetime: a browser this late is not the one we sent."""
        return self.expires_at < time.monotonic()


@dataclass
class _SignIns:
    """Random single-use keys → the sign-in they belong to."""

    tickets: dict[str, _SignIn] = field(default_factory=dict)
    states: dict[str, _SignIn] = field(default_factory=dict)
    cookies: dict[str, _SignIn] = field(default_factory=dict)

    def issue(self, sign_in: _SignIn) -> str:
        """A ticket for the external step's URL; expired sign-ins are dropped meanwhile."""
        for keys in (self.tickets, self.states, self.cookies):
            for key in [key for key, item in keys.items() if item.expired]:
                del keys[key]
        ticket = secrets.token_urlsafe(32)
        self.tickets[ticket] = sign_in
        return ticket

    def redeem(self, ticket: str) -> _SignIn | None:
        """The ticket's sign-in, once, while it is fresh."""
        sign_in = self.tickets.pop(ticket, None)
        return None if sign_in is None or sign_in.expired else sign_in

    def bind(self, sign_in: _SignIn) -> tuple[str, str]:
        """A new ``state`` for the service and a cookie for the browser, both for ``sign_in``."""
        sign_in.expires_at = time.monotonic() + LIFETIME
        state, cookie = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.states[state] = self.cookies[cookie] = sign_in
        return state, cookie

    def take(self, state: str | None, cookie: str | None) -> _SignIn | None:
        """The sign-in the browser came back for, consuming what it presented.

        ``state`` decides when the service echoed it, and a cookie that comes along must name the
        same sign-in; without ``state`` only the cookie can. Anything unknown, expired or
        mismatched resumes nothing.
        """
        by_state = self.states.pop(state, None) if state else None
        by_cookie = self.cookies.pop(cookie, None) if cookie else None
        sign_in = by_state if state else by_cookie
        if sign_in is None or sign_in.expired or (cookie and by_cookie is not sign_in):
            return None
        for keys in (self.tickets, self.states, self.cookies):
            for key in [key for key, item in keys.items() if item is sign_in]:
                del keys[key]
        return sign_in


DATA_SIGN_INS: HassKey[_SignIns] = HassKey(f"{DOMAIN}_oauth2_sign_ins")


@callback
def async_begin_sign_in(
    hass: HomeAssistant, flow_id: str, service_url: URL, redirect_uri: str
) -> str:
    """The external step's URL: our authorize view, on the origin of ``redirect_uri``.

    ``service_url`` is the service's authorize URL with everything but ``state``; its
    ``redirect_uri`` must be ``redirect_uri``, our callback on the browser's address, so the
    cookie set by the authorize view comes back with the browser.
    """
    if DATA_SIGN_INS not in hass.data:
        hass.data[DATA_SIGN_INS] = _SignIns()
        hass.http.register_view(OAuth2AuthorizeView())
        hass.http.register_view(OAuth2CallbackView())
    ticket = hass.data[DATA_SIGN_INS].issue(_SignIn(flow_id, service_url, redirect_uri))
    base = redirect_uri.removesuffix(CALLBACK_PATH)
    return str(URL(base + AUTHORIZE_PATH).with_query(ticket=ticket))


def _flow_waits(hass: HomeAssistant, flow_id: str) -> bool:
    try:
        hass.config_entries.flow.async_get(flow_id)
    except UnknownFlow:
        return False
    return True


def _refused(why: str) -> web.Response:
    # Why, but never the ticket, state, cookie or code themselves.
    LOGGER.debug("OAuth 2.0 sign-in refused: %s", why)
    return callback_page(REFUSED_PAGE, HTTPStatus.BAD_REQUEST)


class OAuth2AuthorizeView(HomeAssistantView):
    """Where the external step's window starts: ticket in, cookie and service's page out.

    No Home Assistant login: the window the frontend opens carries none; the ticket is the key.
    """

    url = AUTHORIZE_PATH
    name = f"api:{DOMAIN}:oauth2:authorize"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Redeem the ticket once, remember this browser, go on to the service with our state."""
        hass = request.app[KEY_HASS]
        sign_ins = hass.data[DATA_SIGN_INS]
        sign_in = sign_ins.redeem(request.query.get("ticket", ""))
        if sign_in is None:
            return _refused("unknown, expired or used ticket")
        if not _flow_waits(hass, sign_in.flow_id):
            return _refused("the flow of the ticket has ended")
        state, cookie = sign_ins.bind(sign_in)
        response = web.Response(
            status=HTTPStatus.FOUND,
            headers={"Location": str(sign_in.service_url.update_query(state=state)), **NO_STORE},
        )
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=LIFETIME,
            path=PREFIX,
            httponly=True,
            samesite="Lax",  # sent along when the service redirects the browser back
            secure=request.secure or URL(sign_in.redirect_uri).scheme == "https",
        )
        return response


class OAuth2CallbackView(HomeAssistantView):
    """Where the service sends the browser back, with or without our ``state``."""

    url = CALLBACK_PATH
    name = f"api:{DOMAIN}:oauth2:callback"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Resume the flow as Home Assistant's own callback would, at most once."""
        hass = request.app[KEY_HASS]
        query = request.query
        sign_in = hass.data[DATA_SIGN_INS].take(query.get("state"), request.cookies.get(COOKIE))
        if sign_in is None:
            response = _refused("unknown, expired, used or mismatched state or cookie")
        elif "code" not in query and "error" not in query:
            response = _refused("neither code nor error")
        else:
            user_input: dict[str, Any] = {
                "state": {"flow_id": sign_in.flow_id, "redirect_uri": sign_in.redirect_uri}
            }
            if "code" in query:
                user_input["code"] = query["code"]
            else:
                user_input["error"] = query["error"]
            try:
                await hass.config_entries.flow.async_configure(sign_in.flow_id, user_input)
            except UnknownFlow:
                response = _refused("the flow has ended")
            else:
                response = callback_page(NOT_GRANTED_PAGE if "error" in query else CONTINUE_PAGE)
        response.del_cookie(COOKIE, path=PREFIX)
        return response
