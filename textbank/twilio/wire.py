"""A lean HTTP/1.1 client for the senders: kept-alive connections, responses parsed by httptools.

One request at a time per connection, as many connections per host as the caller allows.
It carries what the twilio SDK builds (method, URL, headers, form body) and hands back
status, headers and body bytes, skipping interim (1xx) answers and refusing answers larger
than a bound. TLS is verified against certifi's CA bundle (the one requests, and so the SDK's
own client, uses), and HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured as by requests (an
HTTPS origin through a CONNECT tunnel). Redirects, cookies and compression are not Twilio's
REST API's business and are not here. Under a sender, aiohttp's general machinery (URL,
header and payload objects, tracing hooks, timers per phase) was the largest part of a
blast's CPU once the carrier answers quickly: a message through the twilio SDK cost
0.24-0.27 ms of client CPU over aiohttp and 0.14-0.17 ms over this, less than a bare
aiohttp loop without the SDK (0.19-0.21 ms), measured against the sandbox.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import ssl
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import certifi
import httptools

# A Twilio answer is a resource or a page of them (~1 KB a message, 100 to a page here):
# anything past this is not Twilio, and must not fill a worker's memory.
MAX_RESPONSE = 4 * 1024 * 1024  # bytes, head and body


class WireError(ConnectionError):
    """The connection failed or closed before a whole response came back.

    The request may or may not have reached the server: a caller that sent a create
    must treat it as ambiguous.
    """


class NotSent(WireError):
    """The request failed before any byte of it was written (no connection, DNS, a timeout
    while connecting): the server cannot have acted on it, so it is safe to send again."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@lru_cache(maxsize=512)
def split_url(url: str) -> tuple[Origin, str]:
    """(origin, path with query) of an absolute http(s) URL; cached, as a sender posts to
    the same few URLs all day."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, port), target


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Incoming:
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    complete_headers: bool = False


class _Connection(asyncio.Protocol):
    """One socket to one origin; carries one exchange at a time."""

    def __init__(self, max_response: int = MAX_RESPONSE) -> None:
        self.transport: asyncio.Transport | None = None
        self._max_response = max_response
        self._received = 0
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._incoming = _Incoming()
        self._keep_alive = False
        self.answered = False  # a byte of the current exchange's response has come
        self.used = 0  # exchanges carried so far
        self.idled = False  # it has waited in the pool: the server may have let it go

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing asked: whatever this is would garble the next answer
            self.close()
            return
        self.answered = True
        self._received += len(data)
        if self._received > self._max_response:
            self._fail(WireError(f"response larger than {self._max_response} bytes"))
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(WireError(f"malformed response: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None and self._waiter is not None and self._ends_at_close():
            self._complete(keep_alive=False)
            return
        self._fail(WireError(f"connection closed: {exc}" if exc else "connection closed"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._incoming = _Incoming()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._incoming.headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._incoming.chunks.append(body)

    def on_headers_complete(self) -> None:
        self._incoming.complete_headers = True

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # interim (100 Continue, 103 Early Hints): the real answer follows
        self._complete(keep_alive=self._parser.should_keep_alive())

    def _complete(self, keep_alive: bool) -> None:
        self._keep_alive = keep_alive
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            incoming = self._incoming
            waiter.set_result(
                Answer(self._parser.get_status_code(), incoming.headers, b"".join(incoming.chunks))
            )

    def _ends_at_close(self) -> bool:
        """A whole head came, and no length or chunking: the body ran until the close."""
        if not self._incoming.complete_headers:
            return False
        names = {name.lower() for name in self._incoming.headers}
        return "content-length" not in names and "transfer-encoding" not in names

    # ours
    def exchange(self, request: bytes) -> asyncio.Future[Answer]:
        if self.closed or self.transport is None:
            raise WireError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._keep_alive = self.answered = False
        self._received = 0
        self.used += 1
        self.transport.write(request)
        return self._waiter

    @property
    def reusable(self) -> bool:
        return self._keep_alive and not self.closed and self._waiter is None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


async def _exchange(conn: _Connection, message: bytes) -> Answer:
    try:
        return await conn.exchange(message)
    except BaseException:
        conn.close()  # failed, timed out or cancelled: a half-read answer cannot be reused
        raise


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def request_head(method: str, origin: Origin, target: str, headers: dict[str, str], length):
    """The request line and headers, refusing a CR or LF smuggled into any of them."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if length is not None:
        lines.append(f"Content-Length: {length}")
    head = "\r\n".join(lines)
    # One count each instead of a scan per header: only the joins may put them there.
    if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
        raise ValueError("a CR or LF in the request line or a header")
    return (head + "\r\n\r\n").encode("latin-1")


class Pool:
    """Kept-alive connections per origin, at most `limit` open at once in all."""

    def __init__(
        self, limit: int = 100, connect_timeout: float = 10.0, tls: ssl.SSLContext | None = None,
        max_response: int = MAX_RESPONSE, proxies: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self._idle: dict[Origin, collections.deque[_Connection]] = collections.defaultdict(
            collections.deque
        )
        self._open: set[_Connection] = set()
        self._slots = asyncio.Semaphore(limit)
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._tls = tls
        self._max_response = max_response
        # Read once, when the pool is made (in a worker, never at import), as requests does.
        self._proxies = urllib.request.getproxies_environment() if proxies is None else proxies
        self._closed = False

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Answer:
        """Send one request and read its whole response within `timeout` seconds.

        A failure before any of the answer came back is a WireError; so is a connection
        the server had already closed, except that an idempotent request (a GET) on a
        kept-alive connection is tried once more on a fresh one.
        """
        if self._closed:
            raise WireError("pool is closed")
        origin, target = split_url(url)
        proxy = self._proxy(origin)
        if proxy is not None and origin.scheme == "http":
            target = url  # a plain-HTTP proxy takes the absolute URL; HTTPS is tunnelled
            headers = {**headers, **proxy.auth_header}
        sends_body = body is not None or method in ("POST", "PUT", "PATCH")
        head = request_head(
            method, origin, target, headers, len(body or b"") if sends_body else None
        )
        message = head + body if body else head
        written = False
        try:
            async with self._slots, asyncio.timeout(timeout):
                conn = await self._connection(origin)
                written = True
                try:
                    answer = await _exchange(conn, message)
                except WireError:
                    stale = conn.idled and not conn.answered  # the server had let it go
                    if not (stale and method in IDEMPOTENT):
                        raise
                    conn = await self._connection(origin, fresh=True)
                    answer = await _exchange(conn, message)
                if conn.reusable:
                    conn.idled = True
                    self._idle[origin].append(conn)
                else:
                    conn.close()
                return answer
        except TimeoutError as exc:
            if not written:
                raise NotSent(f"timed out connecting to {origin.host}:{origin.port}") from exc
            raise

    async def warm(self, url: str, connections: int) -> int:
        """Open connections to `url`'s origin at once until `connections` (at most the limit)
        wait idle; returns how many it opened. A sender's first requests otherwise each open
        their own (a TCP and TLS handshake before the first byte). Best effort: one that
        cannot be opened is left for the first request that needs it to report."""
        origin, _ = split_url(url)
        idle = self._idle[origin]
        missing = min(connections, self._limit) - sum(1 for c in idle if not c.closed)
        if self._closed or missing <= 0:
            return 0
        tries = [self._connection(origin, fresh=True) for _ in range(missing)]
        opened = [c for c in await asyncio.gather(*tries, return_exceptions=True)
                  if isinstance(c, _Connection)]  # fmt: skip
        if self._closed:  # closed while connecting
            for conn in opened:
                conn.close()
            return 0
        for conn in opened:
            conn.idled = True
        idle.extend(opened)
        return len(opened)

    def _proxy(self, origin: Origin) -> Proxy | None:
        url = self._proxies.get(origin.scheme)
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if not url or bypass(origin.host, self._proxies):
            return None
        return Proxy.parse(url)

    async def _connection(self, origin: Origin, fresh: bool = False) -> _Connection:
        idle = self._idle[origin]
        while idle and not fresh:
            conn = idle.pop()  # the most recently used: the least likely to have timed out
            if not conn.closed:
                return conn
            self._open.discard(conn)
        loop = asyncio.get_running_loop()
        tls = None
        if origin.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context(cafile=certifi.where())
            tls = self._tls
        proxy = self._proxy(origin)
        try:
            async with asyncio.timeout(self._connect_timeout):
                if proxy is not None and tls is not None:
                    conn = await _tunnel(proxy, origin, tls, self._max_response)
                else:
                    host, port = (proxy.host, proxy.port) if proxy else (origin.host, origin.port)
                    _, conn = await loop.create_connection(
                        lambda: _Connection(self._max_response), host, port, ssl=tls,
                        server_hostname=origin.host if tls else None,
                    )  # fmt: skip
        except OSError as exc:
            via = f" through {proxy.host}:{proxy.port}" if proxy else ""
            raise NotSent(f"cannot connect to {origin.host}:{origin.port}{via}: {exc}") from exc
        self._open = {c for c in self._open if not c.closed}
        self._open.add(conn)
        return conn

    async def close(self) -> None:
        """Close every connection, idle or not; requests still waiting fail with WireError."""
        self._closed = True
        for conn in self._open:
            conn.close()
        self._open.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports finish closing


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    auth_header: dict[str, str]

    @classmethod
    def parse(cls, url: str) -> Proxy:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname:
            raise ValueError(f"not a proxy URL: {url!r}")
        auth = {}
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return cls(parts.hostname, parts.port or 8080, auth)


class _ProxyAnswer(asyncio.Protocol):
    """Reads a proxy's answer to CONNECT, up to the blank line; nothing else comes before it."""

    def __init__(self) -> None:
        self.head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if b"\r\n\r\n" in self._buffer and not self.head.done():
            self.head.set_result(self._buffer)
        elif len(self._buffer) > 65536 and not self.head.done():
            self.head.set_exception(ConnectionError("proxy answer too long"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(ConnectionError(f"proxy closed the connection: {exc}"))


async def _tunnel(proxy: Proxy, origin: Origin, tls: ssl.SSLContext, limit: int) -> _Connection:
    """A TLS connection to `origin` inside a CONNECT tunnel through `proxy`.

    Nothing of the request has been written when this fails, so its errors are OSError
    (NotSent to the caller).
    """
    loop = asyncio.get_running_loop()
    raw, answer = await loop.create_connection(_ProxyAnswer, proxy.host, proxy.port)
    try:
        authority = f"{origin.host}:{origin.port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        lines += [f"{name}: {value}" for name, value in proxy.auth_header.items()]
        raw.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await answer.head
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "200":
            raise ConnectionError(f"proxy {proxy.host} refused the tunnel: {status_line}")
        conn = _Connection(limit)
        transport = await loop.start_tls(raw, conn, tls, server_hostname=origin.host)
        if transport is None:
            raise ConnectionError("TLS through the proxy could not start")
        conn.connection_made(transport)
        return conn
    except BaseException:
        raw.close()
        raise
