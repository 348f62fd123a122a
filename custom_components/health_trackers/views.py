"""The browser's side of signing in: our views, the pages they answer, the address they live on.

Home Assistant serves OAuth 2.0's way back (``/auth/external/callback``), but not two others:

- OAuth 1.0a (BACtrack): the service sends the browser back to ``OAUTH1_CALLBACK_PATH`` with the
  request token it issued; the view resumes exactly the flow that asked for that token, once.
- OAuth 2.0 services that may not echo ``state`` (Boditrax documents none): Home Assistant's
  callback finds the flow by the ``state`` it signed, so such a flow would wait forever. Its
  external step opens ``OAUTH2_AUTHORIZE_PATH`` with a single-use ticket instead; that view sets a
  cookie bound to the flow and sends the browser on to the service with a ``state`` of our own.
  ``OAUTH2_CALLBACK_PATH`` resumes the flow named by ``state`` or, when the service dropped it,
  by the cookie. A code pushed into someone else's browser (login CSRF) needs our ``state``,
  which nobody else learns, or that browser's cookie: then it can only end a sign-in that browser
  itself started, at most ``LIFETIME`` seconds before, and only once.

Request tokens, tickets, states and cookies are single use and kept in memory only: a restart
ends every flow anyway. No view needs a Home Assistant login (the sign-in window carries none):
the single-use key is the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
import secrets
import time

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import UnknownFlow
from homeassistant.helpers.config_entry_oauth2_flow import HEADER_FRONTEND_BASE
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import get_url
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .compat import current_request
from .const import DOMAIN, LOGGER

OAUTH1_CALLBACK_PATH = f"/api/{DOMAIN}/oauth1/callback"
OAUTH2_PREFIX = f"/api/{DOMAIN}/oauth2"
OAUTH2_AUTHORIZE_PATH = f"{OAUTH2_PREFIX}/authorize"
OAUTH2_CALLBACK_PATH = f"{OAUTH2_PREFIX}/callback"
OAUTH2_COOKIE = f"{DOMAIN}_oauth2"
LIFETIME = 600
"""Seconds a request token or ticket, and the state and cookie a ticket turns into, stay usable."""

SIGNED_IN_STEP = "oauth1_finish"
"""The flow step after an OAuth 1.0a callback whose sign-in worked; the page says so."""
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


def browser_url(hass: HomeAssistant, path: str) -> str:
    """``path`` on the Home Assistant address the user's browser is using.

    Services send the browser back there, so it must be the address the browser knows; without
    a browser request, the configured one. NoURLAvailableError: Home Assistant knows none.
    """
    request = current_request()
    base = request.headers.get(HEADER_FRONTEND_BASE) if request is not None else None
    return (base or get_url(hass, allow_cloud=False)) + path


def _page(text: str, status: HTTPStatus = HTTPStatus.OK) -> web.Response:
    """A page for the sign-in window; never cached (it answers a one-time link)."""
    return web.Response(status=status, text=text, content_type="text/html", headers=NO_STORE)


def _refused(why: str) -> web.Response:
    # Why, but never the request token, ticket, state, cookie or code themselves.
    LOGGER.debug("Sign-in link refused: %s", why)
    return _page(REFUSED_PAGE, HTTPStatus.BAD_REQUEST)


@dataclass(kw_only=True)
class _Waiting:
    """A flow waiting for the browser to come back."""

    flow_id: str
    expires_at: float = field(default_factory=lambda: time.monotonic() + LIFETIME)

    @property
    def expired(self) -> bool:
        """Past its lifetime: a browser this late is not the one we sent."""
        return self.expires_at < time.monotonic()


@dataclass(kw_only=True)
class _SignIn(_Waiting):
    """An OAuth 2.0 sign-in through our views: the service's authorize URL (all but ``state``)."""

    service_url: URL
    redirect_uri: str
    """Our callback on the browser's address; the service sends the browser back there."""


@dataclass
class _SignIns:
    """Single-use keys → the flow they resume."""

    request_tokens: dict[str, _Waiting] = field(default_factory=dict)
    tickets: dict[str, _SignIn] = field(default_factory=dict)
    states: dict[str, _SignIn] = field(default_factory=dict)
    cookies: dict[str, _SignIn] = field(default_factory=dict)

    def forget(self, drop: Callable[[_Waiting], bool]) -> None:
        """Drop every key whose flow ``drop`` says to."""
        for keys in (self.request_tokens, self.tickets, self.states, self.cookies):
            for key in [key for key, item in keys.items() if drop(item)]:
                del keys[key]

    def issue(self, sign_in: _SignIn) -> str:
        """A ticket for the external step's URL; expired sign-ins are dropped meanwhile."""
        self.forget(lambda item: item.expired)
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
        self.forget(lambda item: item is sign_in)
        return sign_in


DATA_SIGN_INS: HassKey[_SignIns] = HassKey(f"{DOMAIN}_sign_ins")


@callback
def _sign_ins(hass: HomeAssistant) -> _SignIns:
    """The waiting sign-ins; the first one registers the views."""
    if DATA_SIGN_INS not in hass.data:
        hass.data[DATA_SIGN_INS] = _SignIns()
        for view in (OAuth1CallbackView(), OAuth2AuthorizeView(), OAuth2CallbackView()):
            hass.http.register_view(view)
    return hass.data[DATA_SIGN_INS]


@callback
def async_expect_callback(hass: HomeAssistant, request_token: str, flow_id: str) -> None:
    """Let the OAuth 1.0a callback resume ``flow_id`` when the browser brings ``request_token``."""
    # One flow, one request token: an earlier one (a form submitted twice) resumes nothing.
    async_forget_flow(hass, flow_id)
    _sign_ins(hass).request_tokens[request_token] = _Waiting(flow_id=flow_id)


@callback
def async_forget_flow(hass: HomeAssistant, flow_id: str) -> None:
    """A flow ended: its keys no longer resume anything.

    Home Assistant calls the flow's ``async_remove`` whenever a flow leaves its progress, so no
    key outlives its flow and the views need not ask whether it is still there.
    """
    if DATA_SIGN_INS in hass.data:
        hass.data[DATA_SIGN_INS].forget(lambda item: item.flow_id == flow_id)


@callback
def async_begin_sign_in(
    hass: HomeAssistant, flow_id: str, service_url: URL, redirect_uri: str
) -> str:
    """The external step's URL: our authorize view, on the origin of ``redirect_uri``.

    ``service_url`` is the service's authorize URL with everything but ``state``; its
    ``redirect_uri`` must be ``redirect_uri``, our callback on the browser's address, so the
    cookie set by the authorize view comes back with the browser.
    """
    sign_in = _SignIn(flow_id=flow_id, service_url=service_url, redirect_uri=redirect_uri)
    ticket = _sign_ins(hass).issue(sign_in)
    base = redirect_uri.removesuffix(OAUTH2_CALLBACK_PATH)
    return str(URL(base + OAUTH2_AUTHORIZE_PATH).with_query(ticket=ticket))


class OAuth1CallbackView(HomeAssistantView):
    """Where an OAuth 1.0a service sends the browser back with the request token."""

    url = OAUTH1_CALLBACK_PATH
    name = f"api:{DOMAIN}:oauth1:callback"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Resume the flow that issued the request token, at most once, then close the window.

        The flow trades the verifier before it answers, so the page says how signing in ended.
        """
        hass = request.app[KEY_HASS]
        token = request.query.get("oauth_token") or request.query.get("denied", "")
        waiting = hass.data[DATA_SIGN_INS].request_tokens.pop(token, None)
        if waiting is None or waiting.expired:
            return _refused("OAuth 1.0a callback with an unknown, expired or used request token")
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
            return _refused("OAuth 1.0a callback for a flow that has ended")
        pages = {SIGNED_IN_STEP: SIGNED_IN_PAGE, REJECTED_STEP: NOT_GRANTED_PAGE}
        return _page(pages.get(str(result.get("step_id")), NOT_SIGNED_IN_PAGE))


class OAuth2AuthorizeView(HomeAssistantView):
    """Where the external step's window starts: ticket in, cookie and service's page out."""

    url = OAUTH2_AUTHORIZE_PATH
    name = f"api:{DOMAIN}:oauth2:authorize"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Redeem the ticket once, remember this browser, go on to the service with our state."""
        hass = request.app[KEY_HASS]
        sign_ins = hass.data[DATA_SIGN_INS]
        sign_in = sign_ins.redeem(request.query.get("ticket", ""))
        if sign_in is None:
            return _refused("unknown, expired or used ticket")
        state, cookie = sign_ins.bind(sign_in)
        response = web.Response(
            status=HTTPStatus.FOUND,
            headers={"Location": str(sign_in.service_url.update_query(state=state)), **NO_STORE},
        )
        response.set_cookie(
            OAUTH2_COOKIE,
            cookie,
            max_age=LIFETIME,
            path=OAUTH2_PREFIX,
            httponly=True,
            samesite="Lax",  # sent along when the service redirects the browser back
            secure=request.secure or URL(sign_in.redirect_uri).scheme == "https",
        )
        return response


class OAuth2CallbackView(HomeAssistantView):
    """Where the service sends the browser back, with or without our ``state``."""

    url = OAUTH2_CALLBACK_PATH
    name = f"api:{DOMAIN}:oauth2:callback"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        """Resume the flow as Home Assistant's own callback would, at most once."""
        hass = request.app[KEY_HASS]
        query = request.query
        cookie = request.cookies.get(OAUTH2_COOKIE)
        sign_in = hass.data[DATA_SIGN_INS].take(query.get("state"), cookie)
        if sign_in is None:
            response = _refused("unknown, expired, used or mismatched state or cookie")
        elif "code" not in query and "error" not in query:
            response = _refused("neither code nor error")
        else:
            key = "code" if "code" in query else "error"
            user_input = {
                "state": {"flow_id": sign_in.flow_id, "redirect_uri": sign_in.redirect_uri},
                key: query[key],
            }
            await hass.config_entries.flow.async_configure(sign_in.flow_id, user_input)
            response = _page(NOT_GRANTED_PAGE if "error" in query else CONTINUE_PAGE)
        response.del_cookie(OAUTH2_COOKIE, path=OAUTH2_PREFIX)
        return response
