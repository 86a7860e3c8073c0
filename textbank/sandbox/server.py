"""The sandbox carrier's aiohttp app (Twilio's REST subset, faults, controls) and its runners."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import threading
import time
from enum import StrEnum
from functools import lru_cache
from typing import Any

from aiohttp import web

from textbank import heap
from textbank.sandbox import control
from textbank.sandbox.config import SandboxConfig
from textbank.sandbox.listing import DATE_KEYS, START_KEYS, call_filter, int_param, message_filter
from textbank.sandbox.numbers import e164, sender_id
from textbank.sandbox.resources import (
    API_ROOT,
    call_resource,
    error_body,
    list_page,
    message_resource,
    new_sid,
    now,
    num_segments,
)
from textbank.sandbox.runtime import SANDBOX, Sandbox
from textbank.sandbox.state import Call, CallStatus, Message, MessageStatus, SandboxState

logger = logging.getLogger(__name__)

ACCOUNT = API_ROOT + "/{account_sid}"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_BAD_FROM = (
    "The 'From' number {} is not a valid phone number, shortcode, or alphanumeric sender ID."
)
LOST_RESPONSE_WAIT = 30.0  # seconds a committed 500 waits for its callbacks at most
SHUTDOWN_GRACE = 1.0  # seconds given to in-flight requests (a hung "timeout" one) on stop


class Fault(StrEnum):
    NONE = "none"
    RATE_LIMITED = "429"
    SERVER_ERROR = "500"
    TIMEOUT = "timeout"
    LATE = "late"  # held before it is stored, then stored and answered


def _error(code: int, message: str, status: int) -> web.Response:
    return web.json_response(error_body(code, message, status), status=status)


@lru_cache(maxsize=8)
def _basic(account_sid: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode()


def _authorized(request: web.Request, config: SandboxConfig) -> bool:
    path_sid = request.match_info["account_sid"]
    given = request.headers.get("Authorization", "")
    expected = _basic(config.account_sid, config.auth_token)
    return path_sid == config.account_sid and hmac.compare_digest(given, expected)


def _unauthorized() -> web.Response:
    response = _error(20003, "Authenticate", 401)
    response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


async def _enter(request: web.Request) -> tuple[Sandbox, web.Response | None]:
    """Every REST call: authenticate, then the injected latency."""
    sandbox = request.app[SANDBOX]
    if not _authorized(request, sandbox.config):
        return sandbox, _unauthorized()
    if sandbox.config.latency_ms > 0:
        await asyncio.sleep(sandbox.config.latency_ms / 1000)
    return sandbox, None


def _roll(sandbox: Sandbox) -> Fault:
    """One roll decides a create's fault; the shares are exclusive and add up."""
    config = sandbox.config
    if not (
        config.error_429_rate or config.error_500_rate or config.timeout_rate
        or config.late_create_rate
    ):  # fmt: skip
        return Fault.NONE
    roll = sandbox.random()
    for fault, rate in (
        (Fault.RATE_LIMITED, config.error_429_rate),
        (Fault.SERVER_ERROR, config.error_500_rate),
        (Fault.TIMEOUT, config.timeout_rate),
        (Fault.LATE, config.late_create_rate),
    ):
        if roll < rate:
            return fault
        roll -= rate
    return Fault.NONE


async def _answer(sandbox: Sandbox, fault: Fault, body: dict[str, Any]) -> web.Response:
    """The response to a create that was stored: 201, or the 500 / hang that loses it."""
    if fault is Fault.SERVER_ERROR:
        sandbox.state.bump("errors_500")
        return _error(20500, "Internal Server Error", 500)
    if fault is Fault.TIMEOUT:
        sandbox.state.bump("timeouts")
        await asyncio.sleep(sandbox.config.timeout_seconds)
    return web.json_response(body, status=201)


async def _pre_store_fault(sandbox: Sandbox, fault: Fault) -> web.Response | None:
    """Faults that answer before anything is stored."""
    if fault is Fault.RATE_LIMITED:
        sandbox.state.bump("errors_429")
        return _error(20429, "Too Many Requests", 429)
    if fault is Fault.SERVER_ERROR and not sandbox.config.fault_commits:
        sandbox.state.bump("errors_500")
        return _error(20500, "Internal Server Error", 500)
    return None


# -- Messages --------------------------------------------------------------------------------


async def create_message(request: web.Request) -> web.Response:
    sandbox, refused = await _enter(request)
    if refused:
        return refused
    state = sandbox.state
    form = await request.post()
    state.bump("create")
    fault = _roll(sandbox)
    early = await _pre_store_fault(sandbox, fault)
    if early:
        return early
    if fault is Fault.LATE:
        state.bump("late_creates")
        # Shielded: the client giving up must not stop the create from landing, late.
        return await asyncio.shield(_late_create(sandbox, form, fault))
    return await _store_message(sandbox, form, fault)


async def _late_create(sandbox: Sandbox, form, fault: Fault) -> web.Response:
    await asyncio.sleep(sandbox.config.late_create_seconds)
    return await _store_message(sandbox, form, fault)


async def _store_message(sandbox: Sandbox, form, fault: Fault) -> web.Response:
    """Validate and store a create's message, start its lifecycle, and answer for it."""
    config, state = sandbox.config, sandbox.state
    raw_to, body = str(form.get("To") or ""), str(form.get("Body") or "")
    sender, service = str(form.get("From") or ""), str(form.get("MessagingServiceSid") or "")
    if not raw_to:
        return _error(21604, "A 'To' phone number is required.", 400)
    if not body:
        return _error(21602, "Message body is required.", 400)
    if not sender and not service:
        return _error(21603, "A 'From' phone number is required.", 400)
    to = e164(raw_to)
    if to is None:
        return _error(21211, f"The 'To' number {raw_to} is not a valid phone number.", 400)
    if state.is_unsubscribed(to):
        return _error(21610, "Attempt to send to unsubscribed recipient", 400)
    from_ = sender_id(sender) if sender else None
    if sender and from_ is None:
        return _error(21212, _BAD_FROM.format(sender), 400)
    validity = str(form.get("ValidityPeriod") or "")
    moment = now()
    message = Message(
        sid=new_sid("SM"),
        account_sid=config.account_sid,
        to=to,
        from_=from_,
        body=body,
        status=MessageStatus.ACCEPTED if service else MessageStatus.QUEUED,
        direction="outbound-api",
        date_created=moment,
        date_updated=moment,
        date_sent=moment,
        num_segments=num_segments(body),
        messaging_service_sid=service or None,
        status_callback=str(form.get("StatusCallback") or "") or None,
        validity_period=int(validity) if validity.isdigit() else None,
    )
    state.add_message(message)
    body_json = message_resource(message)  # before any await: the loop may change it after
    lost = fault is Fault.SERVER_ERROR
    lifecycle = sandbox.dispatcher.schedule_message(message.sid, track=lost)
    if lifecycle is not None:
        # The lost response: Twilio sent it and reported on it, then the 500 reaches the client.
        await asyncio.wait({lifecycle}, timeout=LOST_RESPONSE_WAIT)
    return await _answer(sandbox, fault, body_json)


async def list_messages(request: web.Request) -> web.Response:
    sandbox, refused = await _enter(request)
    if refused:
        return refused
    query = request.query
    token = query.get("PageToken") or None
    try:
        size = int_param(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = int_param(query, "Page", 0, 0, 1_000_000)
        match = message_filter(query)
    except ValueError as exc:
        return _error(20001, str(exc), 400)
    raw_to = query.get("To")
    to = (e164(raw_to) or raw_to) if raw_to else None
    after = token[2:] if token and token.startswith("PA") else None
    found, more = sandbox.state.page(to, match, size, offset=page * size, after_sid=after)
    next_token = "PA" + found[-1].sid if more and found else None
    filters = {key: query[key] for key in ("To", "From", *DATE_KEYS) if query.get(key)}
    body = list_page(
        sandbox.config.account_sid,
        "messages",
        [message_resource(m) for m in found],
        filters,
        page,
        size,
        next_token,
    )
    return web.json_response(body)


async def fetch_message(request: web.Request) -> web.Response:
    sandbox, refused = await _enter(request)
    if refused:
        return refused
    message = sandbox.state.get_message(request.match_info["sid"])
    if message is None:
        return _error(20404, f"The requested resource {request.path} was not found", 404)
    return web.json_response(message_resource(message))


# -- Calls -----------------------------------------------------------------------------------


async def create_call(request: web.Request) -> web.Response:
    # When the request reached the carrier: stamped first, before authentication, the
    # injected latency and reading the body, so a busy loop's later turns do not move it.
    arrived = time.time()
    sandbox, refused = await _enter(request)
    if refused:
        return refused
    config, state = sandbox.config, sandbox.state
    form = await request.post()
    state.bump("calls")
    fault = _roll(sandbox)
    early = await _pre_store_fault(sandbox, fault)
    if early:
        return early
    raw_to, sender = str(form.get("To") or ""), str(form.get("From") or "")
    twiml = str(form.get("Twiml") or "") or None
    url = str(form.get("Url") or "") or (None if twiml else config.voice_url)
    if not raw_to:
        return _error(21201, "No 'To' number is specified", 400)
    if not sender:
        return _error(21213, "No 'From' number is specified", 400)
    if not url and not twiml:
        return _error(21205, "Url parameter is required.", 400)
    to, from_ = e164(raw_to), e164(sender)
    if to is None:
        return _error(21211, f"The 'To' number {raw_to} is not a valid phone number.", 400)
    if from_ is None:
        return _error(21212, _BAD_FROM.format(sender), 400)
    timeout = str(form.get("Timeout") or "60")
    if not timeout.isdigit() or not 1 <= int(timeout) <= 600:
        return _error(21216, f"Timeout must be 1-600 seconds, got {timeout!r}", 400)
    events = tuple(str(e).lower() for e in form.getall("StatusCallbackEvent", [])) or ("completed",)
    moment = now()
    call = Call(
        sid=new_sid("CA"),
        account_sid=config.account_sid,
        to=to,
        from_=from_,
        url=url,
        status=CallStatus.QUEUED,
        date_created=moment,
        date_updated=moment,
        status_callback=str(form.get("StatusCallback") or "") or None,
        # Dialling starts at once: the sandbox keeps no CPS queue of its own.
        start_time=moment,
        events=events,
        status_callback_method=str(form.get("StatusCallbackMethod") or "POST").upper(),
        machine_detection=str(form.get("MachineDetection") or "") or None,
        timeout=int(timeout),
        created=arrived,
    )
    stored = state.add_call(call)
    if config.play_calls:
        sandbox.voice.start(stored, twiml)
    return await _answer(sandbox, fault, call_resource(stored))


async def list_calls(request: web.Request) -> web.Response:
    """Calls, newest first, filtered by To, From, Status and StartTime bounds."""
    sandbox, refused = await _enter(request)
    if refused:
        return refused
    query = request.query
    try:
        size = int_param(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = int_param(query, "Page", 0, 0, 1_000_000)
        match = call_filter(query)
    except ValueError as exc:
        return _error(20001, str(exc), 400)
    raw_to = query.get("To")
    to = (e164(raw_to) or raw_to) if raw_to else None
    found, more = sandbox.state.calls_page(to, match, size, page * size)
    filters = {key: query[key] for key in ("To", "From", "Status", *START_KEYS) if query.get(key)}
    body = list_page(
        sandbox.config.account_sid, "calls", [call_resource(c) for c in found], filters, page,
        size, "PC" if more else None,  # Page= carries the position; the token is a marker
    )  # fmt: skip
    return web.json_response(body)


async def fetch_call(request: web.Request) -> web.Response:
    sandbox, refused = await _enter(request)
    if refused:
        return refused
    call = sandbox.state.get_call(request.match_info["sid"])
    if call is None:
        return _error(20404, f"The requested resource {request.path} was not found", 404)
    return web.json_response(call_resource(call))


# -- the app and its runners -----------------------------------------------------------------


def make_app(
    config: SandboxConfig | None = None, state: SandboxState | None = None
) -> web.Application:
    """The sandbox carrier as an aiohttp application."""
    sandbox = Sandbox(config or SandboxConfig(), state or SandboxState())
    app = web.Application()
    app[SANDBOX] = sandbox

    async def lifecycle(_app: web.Application):
        await sandbox.start()
        yield
        await sandbox.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(ACCOUNT + "/Messages.json", create_message)
    app.router.add_get(ACCOUNT + "/Messages.json", list_messages)
    app.router.add_get(ACCOUNT + "/Messages/{sid}.json", fetch_message)
    app.router.add_post(ACCOUNT + "/Calls.json", create_call)
    app.router.add_get(ACCOUNT + "/Calls.json", list_calls)
    app.router.add_get(ACCOUNT + "/Calls/{sid}.json", fetch_call)
    control.add_routes(app.router)
    return app


class SandboxServer:
    """The sandbox on a background thread with its own event loop, for tests and `textbank dev`."""

    def __init__(self, config: SandboxConfig | None = None, state: SandboxState | None = None):
        self.config = config or SandboxConfig()
        self.state = state or SandboxState()
        self.url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0):
        """Listen on host:port (0 picks a free port) and return self once it accepts requests."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen(host, port))
            except BaseException as exc:
                failure.append(exc)
                if self._runner is not None:
                    loop.run_until_complete(self._runner.cleanup())
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="sandbox-carrier", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"the sandbox did not start within {timeout} s")
        if failure:
            self._loop = self._thread = self._runner = None
            raise failure[0]
        logger.info("sandbox carrier listening at %s", self.url)
        return self

    async def _listen(self, host: str, port: int) -> None:
        app = make_app(self.config, self.state)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, backlog=2048).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings while running; ValueError names a bad one."""
        return self.config.update(changes)

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None or runner is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._loop = self._thread = self._runner = None

    def __enter__(self) -> SandboxServer:
        return self if self._thread is not None else self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def serve_forever(
    config: SandboxConfig, host: str = "127.0.0.1", port: int = 8089
) -> None:  # pragma: no cover - blocks until interrupted
    """Run the sandbox in the foreground until Ctrl-C, for `textbank sandbox`."""
    app = make_app(config, SandboxState())
    heap.settle()  # it keeps every message: 100,000 of them after a bench blast
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=None,
        shutdown_timeout=SHUTDOWN_GRACE,
    )
