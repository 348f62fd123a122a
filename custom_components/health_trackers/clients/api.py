"""HTTP to a service over Home Assistant's shared session, with every failure mapped to our errors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
import json
import math
from typing import Any, Protocol
import zlib

from aiohttp import ClientError, ClientResponse, ClientSession
from yarl import URL

from .exceptions import (
    AuthenticationError,
    InvalidResponseError,
    MissingScopeError,
    RateLimitedError,
    ServiceTimeoutError,
    ServiceUnavailableError,
    UnexpectedAnswerError,
)
from .shapes import Answer, endpoint, shape

REQUEST_TIMEOUT = 30
MAX_BODY_BYTES = 8 * 1024 * 1024
"""The largest answer read, after decompression: pages we ask for are a few KB, so this is only
ever reached by a broken or hostile answer, which must not fill Home Assistant's memory."""
ACCEPT_ENCODING = "gzip"
"""What we ask for and decompress ourselves, within ``MAX_BODY_BYTES``. Not ``deflate``: servers
disagree whether it carries a zlib header; one that sends it anyway is still read."""
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
MAX_RETRY_AFTER = 24 * 3600
"""The longest wait a ``Retry-After`` may impose (seconds); a longer one is taken as this."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), or None.

    A value that cannot be read is ignored; the wait is capped so a typo cannot stop polling.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 1.0), MAX_RETRY_AFTER)


class BodyTooLargeError(InvalidResponseError):
    """The answer is larger than ``MAX_BODY_BYTES`` (before or after decompression)."""


async def read_limited(response: ClientResponse, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body of a response sent with ``auto_decompress=False``, decompressed, at most ``limit``.

    Refused as soon as it is known to be larger: from ``Content-Length``, while it arrives, and
    while it inflates (a small gzip body can inflate to gigabytes).
    """
    if response.content_length is not None and response.content_length > limit:
        raise BodyTooLargeError(
            f"the answer announces {response.content_length} bytes, larger than {limit} bytes"
        )
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in (*_DECODERS, "identity", ""):
        raise InvalidResponseError(f"the answer is encoded as {encoding!r}")
    decoder = zlib.decompressobj(_DECODERS[encoding]) if encoding in _DECODERS else None
    body = bytearray()
    try:
        async for chunk in response.content.iter_chunked(64 * 1024):
            if decoder is None:
                body += chunk
            else:
                # One byte more than allowed: output left over means the limit was passed.
                body += decoder.decompress(chunk, limit + 1 - len(body))
                if decoder.unconsumed_tail:
                    break
            if len(body) > limit:
                break
        if decoder is not None and len(body) <= limit:
            body += decoder.flush()
    except zlib.error as err:
        raise InvalidResponseError(f"the answer cannot be decompressed: {err}") from err
    if len(body) > limit or (decoder is not None and decoder.unconsumed_tail):
        raise BodyTooLargeError(f"the answer is larger than {limit} bytes")
    return bytes(body)


class Authenticator(Protocol):
    """Gives the Authorization header for a request (OAuth 2.0 bearer, OAuth 1.0a signature)."""

    async def async_authorization(self, method: str, url: URL) -> str:
        """Header value; raises AuthenticationError or ServiceError when it cannot."""


class ServiceApi:
    """One service's origin plus an authenticator; returns decoded JSON or raises."""

    def __init__(
        self,
        session: ClientSession,
        origin: str,
        auth: Authenticator,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """Store what every request needs; no I/O here.

        ``query``: parameters every request carries (signed with the rest of the URL).
        """
        self._session = session
        self.origin = URL(origin)
        self._auth = auth
        self._query = dict(query or {})
        self.answers: dict[str, Answer] = {}
        """Each endpoint's last answer, as a shape (``shapes``): what diagnostics show."""
        self._last = ""
        """The endpoint of the last JSON answer returned: the one a client is reading."""

    def unexpected(self, expected: str) -> UnexpectedAnswerError:
        """The error for the last answer, which lacks ``expected`` (in words: "a list of scans")."""
        return UnexpectedAnswerError(self._last, expected)

    def url(self, path_or_url: str) -> URL:
        """A URL on our origin, from a path or from a link the service sent.

        Links keep only their path and query, put on our origin as they are (a path such as
        ``//elsewhere/x`` stays a path), so they never carry the token elsewhere and the
        development origin holds. A link that is not a URL is an invalid response.
        """
        try:
            link = URL(path_or_url)
            url = URL.build(
                scheme=self.origin.scheme,
                authority=self.origin.raw_authority,
                path=link.raw_path,
                query_string=link.raw_query_string,
                encoded=True,
            )
        except (TypeError, ValueError) as err:
            raise InvalidResponseError("the service sent a link that is not a URL") from err
        if url.origin() != self.origin.origin():  # never expected; the token stays home
            raise InvalidResponseError("the service sent a link to another host")
        return url

    async def async_request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        scope: str | None = None,
    ) -> Any:
        """Send a request and return the JSON it answered.

        ``scope``: the OAuth scope the request needs, so a 403 can say which one is missing.
        """
        body = await self.async_request_body(
            method, path_or_url, params=params, json_body=json_body, scope=scope
        )
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError) as err:  # RecursionError: absurdly deep nesting
            raise InvalidResponseError(
                f"{method} {self.url(path_or_url).path} answered a body that is not JSON"
            ) from err
        # Set with no await before the caller reads the answer, whatever else runs meanwhile.
        self._last = endpoint(method, self.url(path_or_url))
        self.answers[self._last] = replace(self.answers[self._last], shape=shape(answer))
        return answer

    async def async_request_body(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        scope: str | None = None,
    ) -> bytes:
        """Send a request and return the raw body of a successful answer (see async_request)."""
        url = self.url(path_or_url)
        if params or self._query:
            url = url.update_query({**self._query, **(params or {})})
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            "Authorization": await self._auth.async_authorization(method, url),
        }
        body = b""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                async with self._session.request(
                    method,
                    url,
                    json=json_body,
                    headers=headers,
                    allow_redirects=False,
                    auto_decompress=False,
                ) as response:
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
                    self.answers[endpoint(method, url)] = Answer(status, response.content_type)
                    if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
                        body = await read_limited(response)
        except InvalidResponseError as err:  # from reading the body: name the request
            raise type(err)(f"{method} {url.path}: {err}") from err
        except TimeoutError as err:
            raise ServiceTimeoutError(f"{method} {url.path} timed out") from err
        except ClientError as err:
            raise ServiceUnavailableError(f"{method} {url.path}: {err}") from err
        if status == HTTPStatus.UNAUTHORIZED:
            raise AuthenticationError(f"{method} {url.path} answered 401")
        if status == HTTPStatus.FORBIDDEN and scope is not None:
            raise MissingScopeError(scope)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            raise RateLimitedError(
                f"{method} {url.path} answered 429", retry_after_seconds(retry_after)
            )
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise ServiceUnavailableError(f"{method} {url.path} answered {status}")
        if status >= HTTPStatus.MULTIPLE_CHOICES:
            # Redirects are not followed: the token must not leave the service's origin.
            raise InvalidResponseError(f"{method} {url.path} answered {status}")
        return body
