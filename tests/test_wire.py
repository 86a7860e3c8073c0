"""The senders' HTTP client: reuse, framing, closed and stale connections, timeouts, TLS."""

from __future__ import annotations

import asyncio
import ssl
import subprocess

import pytest

from textbank.twilio.wire import NotSent, Pool, WireError

OK = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
    b'{"sid": 1}\n'
)


class Server:
    """A scripted HTTP server: `answer(request_no, head, body)` returns bytes to write,
    (bytes, "then close") to write and hang up, or None to hang up without answering;
    records each request and connection."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[tuple[int, bytes, bytes]] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append((conn, head, body))
                reply = self.answer(len(self.requests), head, body)
                if reply is None:
                    break
                hang_up = isinstance(reply, tuple)  # (bytes, "then close")
                writer.write(reply[0] if hang_up else reply)
                await writer.drain()
                if hang_up:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self):
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    tls: ssl.SSLContext | None = None

    async def __aexit__(self, *exc) -> None:
        self._server.close()


def run(coro):
    return asyncio.run(coro)


async def _post(pool: Pool, url: str, body: bytes = b"To=%2B1212&Body=hi", timeout: float = 5):
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    return await pool.request("POST", url, headers, body, timeout)


def test_requests_share_one_kept_alive_connection_and_arrive_whole():
    async def main():
        async with Server(lambda n, head, body: OK) as server:
            pool = Pool(limit=4)
            url = f"http://127.0.0.1:{server.port}/2010-04-01/Messages.json"
            answers = [await _post(pool, url) for _ in range(3)]
            await pool.close()
            return server, answers

    server, answers = run(main())
    assert [a.status for a in answers] == [201, 201, 201]
    assert answers[0].body == b'{"sid": 1}\n'
    assert answers[0].headers["Content-Type"] == "application/json"
    assert server.connections == 1
    _, head, body = server.requests[0]
    assert head.startswith(b"POST /2010-04-01/Messages.json HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in head
    assert b"Content-Length: 18\r\n" in head
    assert body == b"To=%2B1212&Body=hi"


def test_warm_opens_the_connections_the_first_requests_then_use():
    """A bucket's callers find their connections open: the requests that follow a warm
    open none of their own, and a second warm opens none while they wait idle."""

    async def main():
        async with Server(lambda n, head, body: OK) as server:
            pool = Pool(limit=8)
            url = f"http://127.0.0.1:{server.port}/2010-04-01/Calls.json"
            opened = await pool.warm(url, 4)
            again = await pool.warm(url, 4)
            async with asyncio.timeout(10):  # the server's side of each handshake
                while server.connections < 4:
                    await asyncio.sleep(0.01)
            answers = await asyncio.gather(*(_post(pool, url) for _ in range(4)))
            await pool.close()
            return server, opened, again, answers

    server, opened, again, answers = run(main())
    assert (opened, again) == (4, 0)
    assert [a.status for a in answers] == [201] * 4
    assert server.connections == 4
    assert len(server.requests) == 4


def test_warm_is_best_effort_when_the_carrier_cannot_be_reached():
    async def main():
        pool = Pool(limit=4, connect_timeout=5)
        opened = await pool.warm("http://127.0.0.1:9/Calls.json", 3)  # nothing listens there
        await pool.close()
        return opened

    assert run(main()) == 0


def test_a_chunked_answer_is_joined():
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
    )

    async def main():
        async with Server(lambda n, head, body: chunked) as server:
            pool = Pool()
            answer = await pool.request(
                "GET", f"http://127.0.0.1:{server.port}/x?To=1", {}, None, 5
            )
            await pool.close()
            return server, answer

    server, answer = run(main())
    assert (answer.status, answer.body) == (200, b"hello, world")
    head = server.requests[0][1]
    assert head.startswith(b"GET /x?To=1 HTTP/1.1\r\n")
    assert b"Content-Length" not in head


def test_an_answer_without_length_ends_where_the_server_closes():
    until_close = b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"read": "to the end"}'

    async def main():
        async with Server(lambda n, head, body: (until_close, "then close")) as server:
            pool = Pool()
            answer = await pool.request("GET", f"http://127.0.0.1:{server.port}/x", {}, None, 5)
            await pool.close()
            return answer

    answer = run(main())
    assert (answer.status, answer.body) == (200, b'{"read": "to the end"}')


def test_connection_close_and_a_server_that_hung_up_get_a_fresh_connection():
    closing = OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")

    async def main():
        async with Server(lambda n, head, body: closing if n == 1 else OK) as server:
            pool = Pool()
            url = f"http://127.0.0.1:{server.port}/m"
            first = await _post(pool, url)
            second = await _post(pool, url)
            await pool.close()
            return server, first, second

    server, first, second = run(main())
    assert (first.status, second.status) == (201, 201)
    assert server.connections == 2


def test_a_get_on_a_connection_the_server_dropped_is_tried_once_more():
    # The second request reaches a connection the server then drops unanswered: what a
    # kept-alive connection timing out on the server side looks like to the client.
    async def main():
        async with Server(lambda n, head, body: None if n == 2 else OK) as server:
            pool = Pool()
            url = f"http://127.0.0.1:{server.port}/m"
            await pool.request("GET", url, {}, None, 5)
            again = await pool.request("GET", url, {}, None, 5)
            await pool.close()
            return server, again

    server, again = run(main())
    assert again.status == 201
    assert len(server.requests) == 3 and server.connections == 2


def test_a_post_on_a_dropped_connection_is_not_resent():
    async def main():
        async with Server(lambda n, head, body: None if n == 2 else OK) as server:
            pool = Pool()
            url = f"http://127.0.0.1:{server.port}/m"
            await _post(pool, url)
            with pytest.raises(WireError, match="connection closed"):
                await _post(pool, url)
            await pool.close()
            return server

    server = run(main())
    assert len(server.requests) == 2  # the create may have happened: the caller reconciles


def test_a_silent_server_times_out_and_its_connection_is_not_reused():
    async def main():
        async with Server(lambda n, head, body: b"" if n == 1 else OK) as server:
            pool = Pool()
            url = f"http://127.0.0.1:{server.port}/m"
            with pytest.raises(TimeoutError):
                await _post(pool, url, timeout=0.3)
            after = await _post(pool, url)
            await pool.close()
            return server, after

    server, after = run(main())
    assert after.status == 201 and server.connections == 2


def test_refused_connection_and_malformed_answer_name_the_problem():
    async def main():
        pool = Pool()
        with pytest.raises(WireError, match=r"cannot connect to 127\.0\.0\.1:9"):
            await _post(pool, "http://127.0.0.1:9/m")
        async with Server(lambda n, head, body: b"NOT HTTP AT ALL\r\n\r\n") as server:
            with pytest.raises(WireError, match="malformed response"):
                await _post(pool, f"http://127.0.0.1:{server.port}/m")
        await pool.close()

    run(main())


def test_header_injection_and_odd_urls_are_refused_before_sending():
    async def main():
        pool = Pool()
        with pytest.raises(ValueError, match="CR or LF"):
            await pool.request("GET", "http://127.0.0.1:9/m", {"X-A": "1\r\nX-B: 2"}, None, 1)
        with pytest.raises(ValueError, match="absolute http"):
            await pool.request("GET", "ftp://example.org/m", {}, None, 1)
        await pool.close()

    run(main())


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_is_verified_against_the_trusted_certificates(certificate):
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def main():
        server = Server(lambda n, head, body: OK)
        server.tls = server_tls
        async with server:
            url = f"https://localhost:{server.port}/m"
            pool = Pool(tls=trusting)
            answers = [await _post(pool, url) for _ in range(2)]
            await pool.close()
            stranger = Pool()  # the system's trust store has never heard of this one
            with pytest.raises(WireError, match="CERTIFICATE_VERIFY_FAILED"):
                await _post(stranger, url)
            await stranger.close()
            return server, answers

    server, answers = run(main())
    assert [a.status for a in answers] == [201, 201]
    assert server.connections == 1  # both on one; the stranger never got past the handshake
    assert f"Host: localhost:{server.port}".encode() in server.requests[0][1]


def test_interim_answers_are_skipped_for_the_real_one():
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + OK

    async def main():
        async with Server(lambda n, head, body: interim) as server:
            pool = Pool()
            url = f"http://127.0.0.1:{server.port}/m"
            answers = [await _post(pool, url) for _ in range(2)]
            await pool.close()
            return server, answers

    server, answers = run(main())
    assert [(a.status, a.body) for a in answers] == [(201, b'{"sid": 1}\n')] * 2
    assert server.connections == 1  # and the connection stays good for the next one


def test_an_answer_past_the_bound_is_refused():
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000

    async def main():
        async with Server(lambda n, head, body: big if n == 1 else OK) as server:
            pool = Pool(max_response=10_000)
            url = f"http://127.0.0.1:{server.port}/m"
            with pytest.raises(WireError, match="larger than 10000 bytes"):
                await pool.request("GET", url, {}, None, 5)
            after = await pool.request("GET", url, {}, None, 5)
            await pool.close()
            return after

    assert run(main()).status == 201


class ConnectProxy:
    """A CONNECT proxy that tunnels to whatever it is asked for, and remembers the asks."""

    def __init__(self) -> None:
        self.asked: list[bytes] = []

    async def handle(self, reader, writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.asked.append(head)
        host, port = head.split(b" ")[1].decode().rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def __aenter__(self):
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()


def test_https_goes_through_the_proxy_unless_no_proxy_names_the_host(certificate):
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def main():
        server = Server(lambda n, head, body: OK)
        server.tls = server_tls
        async with server, ConnectProxy() as proxy:
            url = f"https://localhost:{server.port}/m"
            via = {"https": f"http://user:s%40cret@127.0.0.1:{proxy.port}"}
            pool = Pool(tls=trusting, proxies=via)
            answers = [await _post(pool, url) for _ in range(2)]
            await pool.close()
            direct = Pool(tls=trusting, proxies={**via, "no": "localhost"})
            answers.append(await _post(direct, url))
            await direct.close()
            return server, proxy, answers

    server, proxy, answers = run(main())
    assert [a.status for a in answers] == [201, 201, 201]
    assert len(proxy.asked) == 1  # one tunnel, kept alive; NO_PROXY's request went direct
    assert proxy.asked[0].startswith(f"CONNECT localhost:{server.port} HTTP/1.1\r\n".encode())
    assert b"Proxy-Authorization: Basic dXNlcjpzQGNyZXQ=\r\n" in proxy.asked[0]  # user:s@cret
    assert server.connections == 2


def test_a_proxy_that_refuses_the_tunnel_means_nothing_was_sent():
    async def refuse(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main():
        proxy = await asyncio.start_server(refuse, "127.0.0.1", 0)
        port = proxy.sockets[0].getsockname()[1]
        pool = Pool(proxies={"https": f"http://127.0.0.1:{port}"})
        with pytest.raises(NotSent, match="407"):
            await _post(pool, "https://api.twilio.example:443/m")
        await pool.close()
        proxy.close()

    run(main())
