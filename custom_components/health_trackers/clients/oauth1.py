"""OAuth 1.0a (RFC 5849) on the wire: request signing and the three token requests.

Signatures come from authlib's client pieces (HMAC-SHA1, parameters in the Authorization
header). The integration's side (the callback view, which flow waits for which token, what an
entry stores) lives outside this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import json
from urllib.parse import parse_qsl, unquote
from urllib.request import parse_http_list, parse_keqv_list

from aiohttp import ClientSession
from authlib.oauth1 import ClientAuth
from yarl import URL

from .api import ServiceApi
from .exceptions import InvalidResponseError

OOB = "oob"
"""``oauth_callback`` value asking the provider to show the verifier to the user instead."""


@dataclass(frozen=True, kw_only=True)
class OAuth1Settings:
    """How a service speaks OAuth 1.0a (RFC 5849): its three endpoints."""

    request_token_path: str
    authorize_path: str
    access_token_path: str


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
        self,
        session: ClientSession,
        origin: str,
        settings: OAuth1Settings,
        consumer: tuple[str, str],
        *,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """Nothing is sent yet; ``consumer``: key and secret; ``query``: what every request carries."""
        self._session = session
        self._origin = origin
        self._settings = settings
        self._query = query
        self.consumer = consumer

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
        url = URL(self._origin + self._settings.authorize_path)
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
        api = ServiceApi(self._session, self._origin, signer, self._query)
        body = await api.async_request_body("POST", path)
        text = body.decode(errors="replace").strip()
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):  # form-encoded, or JSON too deep to be an answer
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
