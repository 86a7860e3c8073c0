"""Twilio clients pointed at TWILIO_API_URL: the real API, or the sandbox carrier."""

from __future__ import annotations

import base64
import logging
from functools import lru_cache
from urllib.parse import urlencode

from twilio.http import AsyncHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from textbank.config import Settings
from textbank.twilio.wire import Pool


def _point_at(client: Client, settings: Settings) -> Client:
    # Every REST domain the app uses lives under api.twilio.com; the sandbox serves it too.
    client.api.base_url = settings.twilio_api_url
    return client


def rest_client(settings: Settings, timeout: float | None = None) -> Client:
    """A blocking client, for one-off calls (reconciliation, voice).

    Every client waits TEXTBANK_TWILIO_TIMEOUT for an answer unless told otherwise.
    """
    http = TwilioHttpClient(timeout=timeout or settings.twilio_timeout)
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    return _point_at(client, settings)


# Form encoding as urlencode(..., doseq=True) does it (quote_plus: letters, digits and
# "_.-~" stay, a space is "+", every other UTF-8 byte is %XX), by str.translate over the
# bytes: the stdlib quotes byte by byte in Python, ~10 us of a sender's ~120 us per message.
_FORM_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_TABLE = {
    b: "+" if b == 0x20 else chr(b) if b in _FORM_SAFE else f"%{b:02X}" for b in range(256)
}


def _form_quote(value: str) -> str:
    return value.encode().decode("latin-1").translate(_FORM_TABLE)


def form_encode(data: dict) -> str:
    """A request's fields as an application/x-www-form-urlencoded body; a list or tuple
    value as repeated keys, as Twilio expects (MediaUrl=...&MediaUrl=...)."""
    pairs: list[str] = []
    for key, value in data.items():
        name = _form_quote(str(key))
        if isinstance(value, list | tuple):
            pairs.extend(f"{name}={_form_quote(str(v))}" for v in value)
        elif isinstance(value, str | int | float):
            pairs.append(f"{name}={_form_quote(str(value))}")
        else:  # bytes and the rest: as the stdlib has it
            pairs.append(urlencode({key: value}, doseq=True))
    return "&".join(pairs)


@lru_cache(maxsize=8)
def _basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class WireClient(AsyncHttpClient):
    """The twilio SDK's transport for a sender: kept-alive connections, many requests at once.

    The SDK still builds every request, signs it with the account's credentials and turns
    every answer into its resources and TwilioRestException; this only carries them, over
    textbank.twilio.wire. In place of the SDK's own AsyncTwilioHttpClient (aiohttp), which
    (twilio 9.x) applies no timeout of its own, builds aiohttp's multipart machinery for
    each form body and formats a dozen log lines per request whether or not its logger
    writes them. Its errors are WireError (the connection) and TimeoutError.
    """

    def __init__(self, timeout: float, connections: int = 100) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), True, timeout)
        self._connections = connections
        self._pool: Pool | None = None

    async def request(
        self, method: str, url: str, params=None, data=None, headers=None, auth=None,
        timeout: float | None = None, allow_redirects: bool = False,
    ) -> Response:  # fmt: skip
        if self._pool is None:  # here, on the loop that will use it
            self._pool = Pool(self._connections, connect_timeout=self.timeout)
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = _basic_auth(*auth)
        body = None
        if data:
            body = form_encode(data).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{form_encode(params)}"
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("%s %s", method.upper(), url)
        answer = await self._pool.request(
            method.upper(), url, headers, body, timeout or self.timeout
        )
        return Response(answer.status, answer.body.decode("utf-8", "replace"), answer.headers)

    async def warm(self, url: str, connections: int) -> int:
        """Open connections to `url`'s host before the first requests need them (Pool.warm)."""
        if self._pool is None:
            self._pool = Pool(self._connections, connect_timeout=self.timeout)
        return await self._pool.warm(url, connections)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def async_client(settings: Settings, timeout: float | None = None) -> Client:
    """A client for senders: many sends in flight from one event loop."""
    http = WireClient(timeout or settings.twilio_timeout, max(100, settings.send_concurrency))
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    return _point_at(client, settings)
