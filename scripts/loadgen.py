"""A lean HTTP/1.1 load generator: pre-built requests over keep-alive connections.

The benchmarks run the load generator on the same two cores as the server it measures, so
every microsecond it spends is taken from the server. aiohttp's client spent ~0.8 ms of CPU
per request here; this one writes bytes prepared before the clock starts and reads only the
status line and Content-Length of each answer, like wrk does.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode, urlsplit

TIMEOUT = 15.0  # seconds: Twilio gives up on a webhook after 15 s


def form_request(url: str, params: dict, headers: dict) -> bytes:
    """A urlencoded POST, as Twilio sends its webhooks, ready to write to a socket."""
    parts = urlsplit(url)
    body = urlencode(params).encode()
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request outstanding."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None
        self.buffer = b""
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        self.buffer = self.buffer[end + 4 + length :]
        if b"connection: close" in head:
            self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    async def send(self, payload: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        async with asyncio.timeout(TIMEOUT):
            return await self.waiter


IDLE_REUSE = 1.0  # seconds: gunicorn closes a keep-alive connection idle for 2 s


class Client:
    """Keep-alive connections to one server, opened as needed and reused."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.idle: list[tuple[float, _Connection]] = []

    def _reusable(self) -> _Connection | None:
        # Never write to a connection the server may be closing: a request lost that way
        # would count against the server.
        now = time.monotonic()
        while self.idle:
            since, conn = self.idle.pop()
            if not conn.closed and now - since < IDLE_REUSE:
                return conn
            conn.transport.close()
        return None

    async def post(self, payload: bytes) -> int | str:
        """The answer's HTTP status, or the name of what went wrong."""
        conn = self._reusable()
        try:
            if conn is None:
                loop = asyncio.get_running_loop()
                _, conn = await loop.create_connection(_Connection, self.host, self.port)
            status = await conn.send(payload)
        except (OSError, TimeoutError) as exc:
            if conn is not None and conn.transport is not None:
                conn.transport.close()  # a late answer must not be read as the next one's
            return type(exc).__name__
        if not conn.closed:
            self.idle.append((time.monotonic(), conn))
        return status

    def close(self) -> None:
        for _, conn in self.idle:
            conn.transport.close()
        self.idle.clear()


async def run(url: str, payloads: list[bytes], concurrency: int, rate: float | None,
              limit_s: float) -> dict:  # fmt: skip
    """POST every payload: closed loop over `concurrency` lanes, or open loop at `rate`/s.

    Closed loop: each lane sends its next request when the last is answered (the ceiling).
    Open loop: request i is due at start + i/rate whatever the server does, as Twilio sends,
    and its latency counts from when it was due.
    """
    client = Client(url)
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def one(payload: bytes, due: float) -> None:
        status = await client.post(payload)
        if status == 200:
            latencies.append(time.perf_counter() - due)
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1

    start = time.perf_counter()
    if rate:
        tasks = []
        for i, payload in enumerate(payloads):
            due = start + i / rate
            if due - start > limit_s:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(payload, due)))
        await asyncio.gather(*tasks)
    else:
        remaining = iter(payloads)

        async def lane() -> None:
            for payload in remaining:
                if time.perf_counter() - start > limit_s:
                    return
                await one(payload, time.perf_counter())

        await asyncio.gather(*(lane() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    client.close()
    return {"sent": len(latencies) + sum(errors.values()), "ok": len(latencies),
            "elapsed": elapsed, "latencies": sorted(latencies), "errors": errors}  # fmt: skip
