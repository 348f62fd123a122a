"""A real OAuth 1.0a provider for the fakes: request tokens, consent page, verifiers, signed calls.

authlib's server classes do the protocol (HMAC-SHA1 signatures, nonces, timestamps, verifiers);
this module keeps their credentials in memory and speaks aiohttp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
import html
import math
import secrets
import time
from typing import Any, ClassVar, Literal, NamedTuple

from aiohttp import web
from authlib.common.urls import add_params_to_uri, url_encode
from authlib.oauth1 import (
    SIGNATURE_HMAC_SHA1,
    AuthorizationServer,
    OAuth1Request,
    ResourceProtector,
)
from authlib.oauth1.rfc5849.errors import (
    InvalidRequestError,
    OAuth1Error,
)

from .base import FakeService

REQUEST_TOKEN_LIFETIME = 600
TokenFormat = Literal["form", "json"]
_FORM = "application/x-www-form-urlencoded"
_MALFORMED = "Malformed OAuth parameters"

_UNAUTHORIZED = {
    "invalid_client": "Invalid consumer key",
    "invalid_token": "Invalid or expired token",
    "invalid_signature": "Invalid signature",
    "invalid_nonce": "Nonce already used",
    "unsupported_signature_method": "Signature method must be HMAC-SHA1",
    'Invalid "oauth_timestamp" value': "Timestamp too far from the server's clock",
    'Invalid "oauth_verifier"': "Invalid verifier",
}
"""Refusals that answer 401, by authlib's error code (or description for invalid_request)."""


@dataclass(frozen=True)
class OAuth1Consumer:
    """An application registered with the service: what its Web API key consists of."""

    key: str
    secret: str
    name: str = "Home Assistant"

    def get_client_secret(self) -> str:
        """For authlib, which signs with the consumer secret."""
        return self.secret


@dataclass
class _Credential:
    """A request token (with a verifier once allowed) or an access token, as authlib reads them."""

    token: str
    secret: str
    consumer_key: str
    callback: str = "oob"
    user_id: str = ""
    verifier: str | None = None
    expires_at: float = math.inf

    def get_oauth_token(self) -> str:
        return self.token

    def get_oauth_token_secret(self) -> str:
        return self.secret

    def check_verifier(self, verifier: str) -> bool:
        return self.verifier is not None and secrets.compare_digest(self.verifier, verifier)


class _Incoming(NamedTuple):
    """What authlib needs of a request, read ahead because aiohttp reads bodies asynchronously."""

    method: str
    uri: str
    body: str | None
    headers: Mapping[str, str]


def _refusal(error: OAuth1Error) -> tuple[int, str]:
    """Status and short text for a refused OAuth request; nothing secret is echoed."""
    key = error.description if error.error == "invalid_request" else error.error
    if text := _UNAUTHORIZED.get(key):
        return 401, text
    return 400, str(error.description or error.error)


def _require_json_format(request: web.Request) -> None:
    """BACtrack answers a bare ``400 Bad Request`` unless asked for JSON one way or the other."""
    if request.query.get("format") != "json" and request.content_type != "application/json":
        raise web.HTTPBadRequest(text="Bad Request")


class _Provider(AuthorizationServer, ResourceProtector):  # type: ignore[misc]
    """authlib's endpoints and resource check over the service's in-memory credentials."""

    SUPPORTED_SIGNATURE_METHODS: ClassVar[list[str]] = [SIGNATURE_HMAC_SHA1]

    def __init__(self, service: OAuth1Service) -> None:
        self.service = service

    def create_oauth1_request(self, request: _Incoming) -> OAuth1Request:
        try:
            return OAuth1Request(*request)
        except ValueError as error:  # a malformed Authorization header or query
            raise InvalidRequestError(_MALFORMED) from error

    def handle_response(
        self, status_code: int, payload: list[tuple[str, Any]], headers: object
    ) -> web.Response:
        """Token answers, form-encoded or JSON; OAuth 1.0 providers do not confirm the callback."""
        pairs = [
            (key, value)
            for key, value in payload
            if self.service.confirm_callback or key != "oauth_callback_confirmed"
        ]
        if self.service.token_format == "json":
            return web.json_response(dict(pairs), status=status_code)
        text = url_encode([(key, "true" if value is True else value) for key, value in pairs])
        return web.Response(status=status_code, text=text, content_type=_FORM)

    def handle_error_response(self, error: OAuth1Error) -> web.Response:
        status, text = _refusal(error)
        return web.Response(status=status, text=text)

    def validate_timestamp_and_nonce(self, request: OAuth1Request) -> None:
        """Refuse clocks too far ahead as well; authlib checks only how far back they are."""
        super().validate_timestamp_and_nonce(request)
        if request.timestamp and int(request.timestamp) - time.time() > self.EXPIRY_TIME:
            raise InvalidRequestError('Invalid "oauth_timestamp" value')

    def get_client_by_id(self, client_id: str) -> OAuth1Consumer | None:
        return self.service.consumers.get(client_id)

    def exists_nonce(self, nonce: str, request: OAuth1Request) -> bool:
        """Remember each nonce per consumer, timestamp and token, so a replay is refused."""
        key = (request.client_id, request.timestamp, nonce, request.token or "")
        if key in self.service.nonces:
            return True
        self.service.nonces.add(key)
        return False

    def create_temporary_credential(self, request: OAuth1Request) -> _Credential:
        credential = _Credential(
            token=secrets.token_urlsafe(16),
            secret=secrets.token_urlsafe(24),
            consumer_key=request.client_id,
            callback=request.redirect_uri if self.service.confirm_callback else "oob",
            expires_at=time.time() + REQUEST_TOKEN_LIFETIME,
        )
        self.service.request_tokens[credential.token] = credential
        return credential

    def get_temporary_credential(self, request: OAuth1Request) -> _Credential | None:
        credential = self.service.request_tokens.get(request.token)
        if credential is None or request.client_id not in (None, credential.consumer_key):
            return None
        if credential.expires_at <= time.time():
            del self.service.request_tokens[credential.token]
            return None
        return credential

    def delete_temporary_credential(self, request: OAuth1Request) -> None:
        """Keep the request token: authlib calls this after a failed exchange too.

        A mistyped verifier must leave it usable; ``create_token_credential`` uses it up.
        """

    def create_authorization_verifier(self, request: OAuth1Request) -> str:
        credential: _Credential = request.credential
        credential.user_id = request.user
        credential.verifier = secrets.token_hex(8)
        return credential.verifier

    def create_token_credential(self, request: OAuth1Request) -> _Credential:
        used: _Credential = self.service.request_tokens.pop(request.credential.token)
        credential = _Credential(
            token=secrets.token_urlsafe(16),
            secret=secrets.token_urlsafe(24),
            consumer_key=used.consumer_key,
            user_id=used.user_id,
        )
        self.service.access_tokens[credential.token] = credential
        return credential

    def get_token_credential(self, request: OAuth1Request) -> _Credential | None:
        credential = self.service.access_tokens.get(request.token)
        if credential is None or credential.consumer_key != request.client_id:
            return None
        return credential


@dataclass
class OAuth1Service(FakeService):
    """A fake whose API is protected by OAuth 1.0a (three-legged, HMAC-SHA1 only).

    ``confirm_callback`` False behaves like an OAuth 1.0 provider: the request-token answer lacks
    ``oauth_callback_confirmed``, the callback is ignored and the verifier is shown on a page.
    ``token_format`` is how the token endpoints answer.
    """

    request_token_path: ClassVar[str]
    authorize_path: ClassVar[str]
    access_token_path: ClassVar[str]

    consumers: dict[str, OAuth1Consumer] = field(default_factory=dict)
    current_user: str = ""
    confirm_callback: bool = True
    token_format: TokenFormat = "form"
    request_tokens: dict[str, _Credential] = field(default_factory=dict)
    access_tokens: dict[str, _Credential] = field(default_factory=dict)
    nonces: set[tuple[str, str, str, str]] = field(default_factory=set)

    @property
    def origin(self) -> str:
        """The integration reaches OAuth 1.0a fakes as ``localhost``; they listen on ``host``."""
        return f"http://localhost:{self.port}"

    @cached_property
    def _provider(self) -> _Provider:
        return _Provider(self)

    def fault_scope(self, path: str) -> str:
        """Token requests and the consent page get their own faults, apart from the API's."""
        if path in (self.request_token_path, self.access_token_path):
            return "token"
        return "authorize" if path == self.authorize_path else "api"

    def register_consumer(self, consumer: OAuth1Consumer) -> OAuth1Consumer:
        """Issue a Web API key, as the service's staff would on request."""
        self.consumers[consumer.key] = consumer
        return consumer

    def users(self) -> dict[str, str]:
        """User id → display name of every account that can sign in."""
        raise NotImplementedError

    def revoke(self, user_id: str | None = None) -> None:
        """Drop a user's access tokens (everyone's when None), as when access is withdrawn."""
        for token, credential in list(self.access_tokens.items()):
            if user_id in (None, credential.user_id):
                del self.access_tokens[token]

    def setup_oauth_routes(self, app: web.Application) -> None:
        """Request-token, consent page and access-token endpoints."""
        app.router.add_post(self.request_token_path, self._request_token)
        app.router.add_get(self.authorize_path, self._authorize_page)
        app.router.add_post(self.authorize_path, self._authorize_decision)
        app.router.add_post(self.access_token_path, self._access_token)

    async def signed_user(self, request: web.Request) -> str:
        """The user whose access token signed an API request; 401 unless the signature holds."""
        _require_json_format(request)
        try:
            signed = self._provider.validate_request(*await self._incoming(request))
        except ValueError as error:
            raise web.HTTPUnauthorized(text=_MALFORMED) from error
        except OAuth1Error as error:
            raise web.HTTPUnauthorized(text=_refusal(error)[1]) from error
        return str(signed.credential.user_id)

    @staticmethod
    async def _incoming(request: web.Request) -> _Incoming:
        """The request as the client signed it: scheme, Host header, raw path and query."""
        body = await request.text() if request.content_type == _FORM else None
        uri = f"{request.scheme}://{request.host}{request.raw_path}"
        return _Incoming(request.method, uri, body, request.headers)

    async def _request_token(self, request: web.Request) -> web.Response:
        _require_json_format(request)
        incoming = await self._incoming(request)
        response: web.Response = self._provider.create_temporary_credentials_response(incoming)
        return response

    async def _access_token(self, request: web.Request) -> web.Response:
        _require_json_format(request)
        response: web.Response = self._provider.create_token_response(await self._incoming(request))
        return response

    # -- consent page -------------------------------------------------------------------------

    async def _pending(self, request: web.Request) -> tuple[OAuth1Request, _Credential]:
        """The request token the consent page is about; a 400 page when it is not usable.

        BACtrack asks clients to sign the link to this page with the request-token secret; a
        signature that is there must hold (a page reload reuses it, so no nonce check here).
        """
        try:
            oauth = self._provider.create_oauth1_request(await self._incoming(request))
            self._provider.validate_authorization_request(oauth)
            if oauth.signature:
                oauth.client = self._provider.get_client_by_id(oauth.credential.consumer_key)
                self._provider.validate_oauth_signature(oauth)
        except OAuth1Error as error:
            raise web.HTTPBadRequest(
                text=self._page(
                    "Cannot authorize", "This request token is unknown, used or expired."
                ),
                content_type="text/html",
            ) from error
        return oauth, oauth.credential

    def _page(self, title: str, body: str) -> str:
        return f"""<!doctype html>
<html><head><title>{self.name} - {title}</title></head>
<body><h1>{self.name}</h1><h2>{title}</h2>{body}</body></html>"""

    async def _authorize_page(self, request: web.Request) -> web.Response:
        _, credential = await self._pending(request)
        consumer = self.consumers[credential.consumer_key]
        user = self.users()[self.current_user]
        body = f"""<p>Signed in as <b>{html.escape(user)}</b>.</p>
<p><b>{html.escape(consumer.name)}</b> asks to read your {self.name} readings.</p>
<form method="post" action="{self.authorize_path}">
<input type="hidden" name="oauth_token" value="{html.escape(credential.token)}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>"""
        return web.Response(text=self._page("Authorize", body), content_type="text/html")

    async def _authorize_decision(self, request: web.Request) -> web.Response:
        oauth, credential = await self._pending(request)
        if (await request.post()).get("decision") != "allow":
            del self.request_tokens[credential.token]
            if credential.callback == "oob":
                page = self._page("Access denied", "<p>You can close this window.</p>")
                return web.Response(text=page, content_type="text/html")
            raise web.HTTPFound(add_params_to_uri(credential.callback, [("denied", oauth.token)]))
        oauth.user = self.current_user
        verifier = self._provider.create_authorization_verifier(oauth)
        if credential.callback == "oob":
            body = (
                f'<p>Enter this code in the application:</p><code id="verifier">{verifier}</code>'
            )
            return web.Response(text=self._page("Access granted", body), content_type="text/html")
        raise web.HTTPFound(
            add_params_to_uri(
                credential.callback, [("oauth_token", oauth.token), ("oauth_verifier", verifier)]
            )
        )
