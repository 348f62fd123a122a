"""A real OAuth 2.0 server for the fakes: consent page, codes, tokens, refresh, other grants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import html
import json
import secrets
import time
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from aiohttp import web

from .base import FakeService, RawJSON, json_answer

CODE_LIFETIME = 600
TokenEncoding = Literal["json", "form", "query"]
RefreshPolicy = Literal["rotate", "keep", "omit"]


def _forbidden(error: str) -> web.HTTPForbidden:
    """A 403 in the partner handlers' error style (what Boditrax documents)."""
    return web.HTTPForbidden(
        text=json.dumps({"success": False, "error": error}), content_type="application/json"
    )


@dataclass(frozen=True)
class OAuth2Client:
    """An application registered with the service (what application credentials hold)."""

    client_id: str
    client_secret: str
    name: str = "Home Assistant"
    redirect_uris: tuple[str, ...] = ()
    """Registered redirect URIs; empty accepts any (the demo's port is not known in advance)."""
    scopes: tuple[str, ...] = ()
    """Scopes the service granted this application; its tokens carry exactly these."""


@dataclass
class _Grant:
    user_id: str
    client_id: str
    expires_at: float = 0.0
    """When it stops working; 0: never (a refresh token until it is rotated or revoked)."""
    redirect_uri: str = ""
    application: bool = False
    """Issued to the application itself (client credentials): no user (``user_id`` is empty)."""


@dataclass
class OAuth2Service(FakeService):
    """A fake whose API is protected by OAuth 2.0 bearer tokens.

    ``refresh_policy``: "rotate" issues a new refresh token and invalidates the old one,
    "keep" returns the same one again, "omit" returns none (the client must keep its own).
    A rotated refresh token dies the moment its successor is issued (``rotation_grace`` 0), as
    a client that loses the answer finds out; some services accept it a little longer.
    ``expires_in_json`` announces another access-token lifetime than the real one, as raw JSON.
    """

    authorize_path: ClassVar[str]
    token_path: ClassVar[str]
    token_encodings: ClassVar[frozenset[TokenEncoding]] = frozenset({"form"})
    access_token_lifetime: ClassVar[int]
    password_grant: ClassVar[bool] = False
    """Whether linked accounts may sign in with ``grant_type=password`` (sent as a GET)."""
    client_credentials_grant: ClassVar[bool] = False
    """Whether an application may get a token of its own with ``grant_type=client_credentials``."""
    requires_state: ClassVar[bool] = True
    """Whether the authorize endpoint refuses a request without ``state`` (SportTracks documents so)."""

    clients: dict[str, OAuth2Client] = field(default_factory=dict)
    refresh_policy: RefreshPolicy = "rotate"
    rotation_grace: float = 0.0
    """Seconds a rotated refresh token still works; 0: refused as soon as the new one is issued."""
    include_expires_in: bool = True
    expires_in_json: str | None = None
    """``expires_in`` of token answers written as this raw JSON (``1e999``, ``"Infinity"``,
    ``-5``, ``1000000000000``) instead of the true lifetime, which the service still applies."""
    echo_state: bool = True
    """False: redirect back without ``state``, as a service that ignores it would."""
    current_user: str = ""
    codes: dict[str, _Grant] = field(default_factory=dict)
    access_tokens: dict[str, _Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, _Grant] = field(default_factory=dict)
    redeemed: dict[str, list[str]] = field(default_factory=dict)
    """Used codes → the tokens issued for them, revoked if the code is tried again."""
    rotated: dict[str, str] = field(default_factory=dict)
    """Rotated refresh token → its successor, so a test can tell a dead token from an unknown one."""

    def fault_scope(self, path: str) -> str:
        """Sign-in pages and token requests get their own faults, apart from the API's."""
        return {self.token_path: "token", self.authorize_path: "authorize"}.get(path, "api")

    def register_client(self, client: OAuth2Client) -> OAuth2Client:
        """Register an application, as the service's developer portal would."""
        self.clients[client.client_id] = client
        return client

    def users(self) -> dict[str, str]:
        """User id → display name of every account that can sign in."""
        raise NotImplementedError

    def revoke(self, user_id: str | None = None) -> None:
        """Invalidate every token of a user (all users when None), as when access is withdrawn."""
        for store in (self.access_tokens, self.refresh_tokens):
            for token, grant in list(store.items()):
                if user_id in (None, grant.user_id):
                    del store[token]

    def expire_access_tokens(self) -> None:
        """Make every access token stale now, so the next API call answers 401."""
        for grant in self.access_tokens.values():
            grant.expires_at = 0.0

    def setup_oauth_routes(self, app: web.Application) -> None:
        """Consent page and token endpoint."""
        app.router.add_get(self.authorize_path, self._authorize_page)
        app.router.add_post(self.authorize_path, self._authorize_decision)
        app.router.add_post(self.token_path, self._token)
        if self.password_grant:
            app.router.add_get(self.token_path, self._token)

    def linked_user(self, username: str, secret: str) -> str | None:
        """The user a linked account's username and secret belong to (password grant)."""
        return None

    def secret_valid(self, client: OAuth2Client, secret: str) -> bool:
        """Whether ``secret`` is the application's client secret."""
        return secrets.compare_digest(client.client_secret, secret)

    def granted_scopes(self, client: OAuth2Client) -> tuple[str, ...]:
        """The scopes the application's tokens carry now."""
        return client.scopes

    def bearer_user(self, request: web.Request, *any_scope: str) -> str:
        """The user an API request's bearer token belongs to; 401 without one, 403 without a scope.

        An application's own token has no user: 403.
        """
        grant = self._bearer_grant(request, *any_scope)
        if grant.application:
            raise _forbidden("An application token has no user")
        return grant.user_id

    def bearer_application(self, request: web.Request, *any_scope: str) -> str:
        """The client id of an application's own token (client credentials); 403 for a user's."""
        grant = self._bearer_grant(request, *any_scope)
        if not grant.application:
            raise _forbidden("Requires an application token")
        return grant.client_id

    def _bearer_grant(self, request: web.Request, *any_scope: str) -> _Grant:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        grant = self.access_tokens.get(token)
        if grant is None or grant.expires_at <= time.time():
            raise web.HTTPUnauthorized(
                text=json.dumps(
                    {"error": "invalid_token", "error_description": "expired or unknown"}
                ),
                content_type="application/json",
            )
        granted = self.granted_scopes(self.clients[grant.client_id])
        if any_scope and not set(any_scope) & set(granted):
            raise _forbidden(f"Requires scope {' or '.join(any_scope)}")
        return grant

    # -- authorization endpoint -------------------------------------------------------------

    def _authorize_error(self, query: Mapping[str, str]) -> str | None:
        if (client := self.clients.get(query.get("client_id", ""))) is None:
            return "Unknown client_id."
        if query.get("response_type") != "code":
            return "response_type must be code."
        if not query.get("redirect_uri"):
            return "redirect_uri is required."
        if client.redirect_uris and query["redirect_uri"] not in client.redirect_uris:
            return "redirect_uri is not registered for this application."
        if self.requires_state and not query.get("state"):
            return "The state parameter is required and may not be empty."
        return None

    async def _authorize_page(self, request: web.Request) -> web.Response:
        if error := self._authorize_error(request.query):
            return web.Response(
                status=400, text=f"<h1>Bad request</h1><p>{error}</p>", content_type="text/html"
            )
        client = self.clients[request.query["client_id"]]
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
            for key, value in request.query.items()
        )
        user = self.users()[self.current_user]
        page = f"""<!doctype html>
<html><head><title>{self.name} - authorize</title></head>
<body><h1>{self.name}</h1>
<p>Signed in as <b>{html.escape(user)}</b>.</p>
<p><b>{html.escape(client.name)}</b> asks to read your {self.name} data.</p>
<form method="post" action="{self.authorize_path}">{hidden}
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form></body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def _authorize_decision(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        if error := self._authorize_error(params):
            return web.Response(status=400, text=error)
        redirect_uri = params["redirect_uri"]
        if params.get("decision") != "allow":
            answer = {"error": "access_denied"}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = _Grant(
                self.current_user, params["client_id"], time.time() + CODE_LIFETIME, redirect_uri
            )
            answer = {"code": code}
        if self.echo_state and "state" in params:
            answer["state"] = params["state"]
        separator = "&" if "?" in redirect_uri else "?"
        raise web.HTTPFound(f"{redirect_uri}{separator}{urlencode(answer)}")

    # -- token endpoint -----------------------------------------------------------------------

    async def _token_params(self, request: web.Request) -> dict[str, str] | None:
        """The token request's parameters, from the encodings this service accepts."""
        params: dict[str, str] = {}
        if request.method == "GET" or "query" in self.token_encodings:
            params.update(request.query)
        if request.content_type == "application/json" and "json" in self.token_encodings:
            try:
                body = await request.json()
            except ValueError:
                return None
            if not isinstance(body, dict):
                return None
            params.update({key: str(value) for key, value in body.items()})
        elif (
            request.content_type == "application/x-www-form-urlencoded"
            and "form" in self.token_encodings
        ):
            params.update({key: str(value) for key, value in (await request.post()).items()})
        return params

    @staticmethod
    def _token_error(status: int, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=status)

    async def _token(self, request: web.Request) -> web.Response:  # noqa: PLR0911 - one answer per OAuth error
        params = await self._token_params(request)
        if not params or "grant_type" not in params:
            return self._token_error(
                400, "invalid_request", "No parameters in an accepted encoding."
            )
        client = self.clients.get(params.get("client_id", ""))
        # The app identifier alone serves client-side grants (the linked-account password grant).
        public = params["grant_type"] == "password" and "client_secret" not in params
        if client is None or not (
            public or self.secret_valid(client, params.get("client_secret", ""))
        ):
            return self._token_error(401, "invalid_client", "Unknown client or wrong secret.")
        if params["grant_type"] == "authorization_code":
            code = params.get("code", "")
            if code in self.redeemed:  # RFC 6749 4.1.2: a replayed code revokes its tokens
                for token in self.redeemed.pop(code):
                    self.access_tokens.pop(token, None)
                    self.refresh_tokens.pop(token, None)
            grant = self.codes.pop(code, None)
            if (
                grant is None
                or grant.client_id != client.client_id
                or grant.expires_at <= time.time()
                or grant.redirect_uri != params.get("redirect_uri")
            ):
                return self._token_error(
                    400, "invalid_grant", "Code unknown, used, expired or for another redirect_uri."
                )
            answer = self._issue(grant, new_refresh=True)
            self.redeemed[code] = [answer["access_token"], answer["refresh_token"]]
            return json_answer(answer)
        if params["grant_type"] == "refresh_token":
            return self._refresh(params.get("refresh_token", ""), client)
        if params["grant_type"] == "password" and self.password_grant:
            user = self.linked_user(params.get("username", ""), params.get("password", ""))
            if user is None:
                return self._token_error(
                    400, "invalid_grant", "Unknown linked account or wrong secret."
                )
            return json_answer(self._issue(_Grant(user, client.client_id), new_refresh=True))
        if params["grant_type"] == "client_credentials" and self.client_credentials_grant:
            grant = _Grant("", client.client_id, application=True)
            return json_answer(self._issue(grant, new_refresh=True))
        return self._token_error(400, "unsupported_grant_type", params["grant_type"])

    def _refresh(self, old: str, client: OAuth2Client) -> web.Response:
        """A refresh-token grant: new access token; per ``refresh_policy``, a new refresh token."""
        grant = self.refresh_tokens.get(old)
        if grant is not None and grant.expires_at and grant.expires_at <= time.time():
            del self.refresh_tokens[old]  # a rotated token whose grace is over
            grant = None
        if grant is None or grant.client_id != client.client_id:
            reason = "was rotated" if old in self.rotated else "unknown or revoked"
            return self._token_error(400, "invalid_grant", f"Refresh token {reason}.")
        rotate = self.refresh_policy == "rotate"
        answer = self._issue(grant, new_refresh=rotate)
        if rotate:
            self.rotated[old] = answer["refresh_token"]
            if self.rotation_grace > 0:
                grant.expires_at = grant.expires_at or time.time() + self.rotation_grace
            else:
                del self.refresh_tokens[old]
        if self.refresh_policy == "keep":
            answer["refresh_token"] = old
        return json_answer(answer)

    def _issue(self, grant: _Grant, *, new_refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        self.access_tokens[access] = _Grant(
            grant.user_id,
            grant.client_id,
            time.time() + self.access_token_lifetime,
            application=grant.application,
        )
        answer: dict[str, Any] = {"access_token": access, "token_type": "Bearer"}
        if self.include_expires_in:
            answer["expires_in"] = (
                self.access_token_lifetime
                if self.expires_in_json is None
                else RawJSON(self.expires_in_json)
            )
        if scopes := self.granted_scopes(self.clients[grant.client_id]):
            answer["scope"] = " ".join(scopes)
        if new_refresh:
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = _Grant(  # no expiry
                grant.user_id, grant.client_id, application=grant.application
            )
            answer["refresh_token"] = refresh
        return answer
