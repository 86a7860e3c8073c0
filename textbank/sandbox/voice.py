"""Outbound calls: fetch the app's TwiML, wait at <Gather> for pressed digits, then hang up."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp

from textbank.sandbox.callbacks import Dispatcher
from textbank.sandbox.config import SandboxConfig
from textbank.sandbox.resources import now, rfc2822
from textbank.sandbox.state import Call, CallStatus, SandboxState
from textbank.sandbox.twiml import find_gather
from textbank.sandbox.webhooks import call_params

logger = logging.getLogger(__name__)

MAX_GATHERS = 20  # per call: the app's menus cannot keep a call open forever
VOICE_TIMEOUT = 15.0  # seconds; Twilio's own limit on a TwiML fetch


class CallNotWaiting(Exception):
    """Digits were pressed on a call that is not at a <Gather>."""


@dataclass
class _Gate:
    """A call paused at a <Gather>; `pressed` is set the moment digits start to go out."""

    answered: asyncio.Event = field(default_factory=asyncio.Event)
    pressed: bool = False


class VoiceCalls:
    """One task per live call; bounded by MAX_GATHERS and gather_wait_seconds."""

    def __init__(self, config: SandboxConfig, state: SandboxState, dispatcher: Dispatcher):
        self._config = config
        self._state = state
        self._dispatcher = dispatcher
        self._gates: dict[str, _Gate] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, call: Call, twiml: str | None) -> None:
        task = asyncio.create_task(self._run(call, twiml))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, call: Call, inline_twiml: str | None) -> None:
        try:
            await self._converse(call, inline_twiml)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.info("sandbox: call %s could not reach the app: %r", call.sid, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("sandbox: call %s failed", call.sid)
        finally:
            self._gates.pop(call.sid, None)
        await self._hang_up(call)

    async def _converse(self, call: Call, inline_twiml: str | None) -> None:
        await asyncio.sleep(self._config.callback_delay_ms / 1000)
        started = now()
        self._state.update_call(
            call.sid, status=CallStatus.IN_PROGRESS, start_time=started, date_updated=started
        )
        if inline_twiml is not None:
            twiml = inline_twiml
        else:
            _, twiml = await self._fetch(call, call.url or "", "POST", {})
        self._state.update_call(call.sid, twiml=twiml)
        for _ in range(MAX_GATHERS):
            if find_gather(twiml) is None:
                return
            gate = self._gates[call.sid] = _Gate()
            try:
                await asyncio.wait_for(gate.answered.wait(), self._config.gather_wait_seconds)
            except TimeoutError:
                if not gate.pressed:
                    return  # nobody pressed anything: Twilio moves on and the call ends
                await asyncio.wait_for(gate.answered.wait(), VOICE_TIMEOUT + 1)
            finally:
                self._gates.pop(call.sid, None)
            latest = self._state.get_call(call.sid)
            twiml = latest.twiml[-1] if latest and latest.twiml else ""

    async def _fetch(
        self, call: Call, url: str, method: str, extra: dict[str, str]
    ) -> tuple[int, str]:
        params = call_params(call, CallStatus.IN_PROGRESS) | extra
        status, text = await self._dispatcher.post(url, params, method, timeout=VOICE_TIMEOUT)
        self._state.update_call(call.sid, document_url=url)
        return status, text

    async def _hang_up(self, call: Call) -> None:
        ended = now()
        latest = self._state.get_call(call.sid)
        started = (latest.start_time if latest else None) or ended
        duration = max(1, int((ended - started).total_seconds()))
        self._state.update_call(
            call.sid,
            status=CallStatus.COMPLETED,
            end_time=ended,
            date_updated=ended,
            duration=duration,
        )
        if self._config.callbacks and call.status_callback:
            params = call_params(call, CallStatus.COMPLETED)
            params["CallDuration"] = str(duration)
            params["Timestamp"] = rfc2822(ended) or ""
            params["CallbackSource"] = "call-progress-events"
            params["SequenceNumber"] = "0"
            await self._dispatcher.deliver(call.status_callback, params, call.sid)

    async def press(self, sid: str, digits: str) -> tuple[int, str]:
        """Send digits to the waiting <Gather>'s action; (app status, the TwiML it answered)."""
        gate = self._gates.get(sid)
        call = self._state.get_call(sid)
        if gate is None or gate.pressed or call is None or not call.twiml:
            raise CallNotWaiting(f"call {sid} is not waiting at a <Gather>")
        gather = find_gather(call.twiml[-1])
        if gather is None:
            raise CallNotWaiting(f"call {sid} is not waiting at a <Gather>")
        action, method = gather
        base = call.document_url or ""
        url = urljoin(base, action) if action else base
        if not url.startswith(("http://", "https://")):
            raise CallNotWaiting(f"call {sid}: cannot resolve <Gather action={action!r}>")
        gate.pressed = True
        status, twiml = 502, ""
        try:
            status, twiml = await self._fetch(call, url, method, {"Digits": digits})
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.info("sandbox: call %s digits to %s failed: %r", sid, url, exc)
        finally:
            # Always release the call, whatever happened to the request.
            self._state.update_call(sid, twiml=twiml, digits=digits, date_updated=now())
            gate.answered.set()
        return status, twiml
