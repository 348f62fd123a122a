"""OAuth 1.0a (RFC 5849): request signing, the token dance, and the callback view that ends it.

Home Assistant has helpers for OAuth 2.0 only. Signatures come from authlib's client pieces
(HMAC-SHA1, parameters in the Authorization header); requests go over Home Assistant's shared
session. The provider redirects the user's browser to ``CALLBACK_PATH`` with the request token it
issued; the view resumes exactly the flow that asked for that token, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
import json
import time
from typing import Any
from urllib.parse import parse_qsl, unquote
from urllib.request import parse_http_list, parse_keqv_list

from aiohttp import web
from authlib.oauth1 import ClientAuth
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.config_entry_oauth2_flow import HEADER_FRONTEND_BASE
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import get_url
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .compat import current_request
from .const import DOMAIN, LOGGER
from .exceptions import InvalidResponseError
from .provider import OAuth1Settings, Provider

CALLBACK_PATH = f"/api/{DOMAIN}/oauth1/callback"
OOB = "oob"
"""``oauth_callback`` value asking the provider to show the verifier to the user instead."""
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


@dataclass(frozen=True)
class OAuth1Token:
    """A token and its secret: a request token during the dance, an access token after it."""

    token: str
    secret: str
    callback_confirmed: bool = False


class OAuth1Signer:
    """Signs each request with the consumer's (and the token's) secret; an ``Authenticator``."""

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        token: OAuth1Token | None = None,
        *,
        callback_url: str | None = None,
        verifier: str | None = None,
    ) -> None:
        """Keep the credentials; ``callback_url`` and ``verifier`` belong to the token requests."""
        self._client = ClientAuth(
            consumer_key,
            consumer_secret,
            token=token.token if token else None,
            token_secret=token.secret if token else None,
            redirect_uri=callback_url,
            verifier=verifier,
            signature_method="HMAC-SHA1",
            signature_type="HEADER",
        )

    @classmethod
    def for_entry(cls, data: Mapping[str, Any]) -> OAuth1Signer:
        """The signer for a config entry's stored consumer and access token."""
        return cls(
            data[CONF_CONSUMER_KEY],
            data[CONF_CONSUMER_SECRET],
            OAuth1Token(data[CONF_ACCESS_TOKEN], data[CONF_ACCESS_TOKEN_SECRET]),
        )

    async def async_authorization(self, method: str, url: URL) -> str:
        """``OAuth …`` header over the method and the full URL, with a fresh nonce and timestamp."""
        return self.authorization(method, url)

    def authorization(self, method: str, url: URL) -> str:
        """The header itself; signing is local work, no I/O."""
        _, headers, _ = self._client.prepare(method, str(url), {}, b"")
        return str(headers["Authorization"])


class OAuth1Dance:
    """The three legs for one consumer of one service."""

    def __init__(
        self, hass: HomeAssistant, provider: Provider, consumer_key: str, consumer_secret: str
    ) -> None:
        """Nothing is sent yet."""
        assert provider.oauth1 is not None
        self._hass = hass
        self._provider = provider
        self._settings: OAuth1Settings = provider.oauth1
        self.consumer = (consumer_key, consumer_secret)

    async def async_request_token(self, callback_url: str) -> OAuth1Token:
        """Temporary credentials, to be authorized by the user; AuthenticationError: bad consumer."""
        signer = OAuth1Signer(*self.consumer, callback_url=callback_url)
        answer = await self._async_token_request(self._settings.request_token_path, signer)
        return OAuth1Token(
            answer["oauth_token"],
            answer["oauth_token_secret"],
            callback_confirmed=str(answer.get("oauth_callback_confirmed", "")).lower() == "true",
        )

    def authorize_url(self, request_token: OAuth1Token) -> str:
        """The provider's page where the user signs in and allows access.

        Signed with the request-token secret, parameters in the query, as BACtrack asks.
        """
        url = URL(self._provider.origin + self._settings.authorize_path)
        # Signed as a header, then moved to the query: the signature covers the same parameters
        # either way (RFC 5849 3.4.1.3), and authlib's own query signing repeats every parameter.
        header = OAuth1Signer(*self.consumer, request_token).authorization("GET", url)
        oauth = parse_keqv_list(parse_http_list(header.removeprefix("OAuth ")))
        return str(url.update_query({key: unquote(value) for key, value in oauth.items()}))

    async def async_access_token(self, request_token: OAuth1Token, verifier: str) -> OAuth1Token:
        """Trade the authorized request token and its verifier for the lasting access token."""
        signer = OAuth1Signer(*self.consumer, request_token, verifier=verifier)
        answer = await self._async_token_request(self._settings.access_token_path, signer)
        return OAuth1Token(answer["oauth_token"], answer["oauth_token_secret"])

    async def _async_token_request(self, path: str, signer: OAuth1Signer) -> dict[str, str]:
        """POST a token request; the answer is form-encoded (RFC 5849) or, tolerated, JSON."""
        body = await self._provider.api(self._hass, signer).async_request_body("POST", path)
        text = body.decode(errors="replace").strip()
        try:
            decoded = json.loads(text)
        except ValueError:
            answer = dict(parse_qsl(text))
        else:
            answer = (
                {key: str(value) for key, value in decoded.items()}
                if isinstance(decoded, dict)
                else {}
            )
        if not answer.get("oauth_token") or not answer.get("oauth_token_secret"):
            raise InvalidResponseError(f"POST {path} answered no oauth_token and secret")
        return answer


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
        # A flow that ends forgets its tokens (async_forget_flow), so this one is still waiting.
        result = await hass.config_entries.flow.async_configure(waiting.flow_id, user_input)
        pages = {SIGNED_IN_STEP: SIGNED_IN_PAGE, REJECTED_STEP: NOT_GRANTED_PAGE}
        return callback_page(pages.get(str(result.get("step_id")), NOT_SIGNED_IN_PAGE))
