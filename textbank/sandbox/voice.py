"""Outbound calls: fetch the app's TwiML, wait at <Gather> for pressed digits, then hang up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
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

    def __init__(
        self,
        config: SandboxConfig,
        state: SandboxState,
        dispatcher: Dispatcher,
        dice: Callable[[], float] = random.random,
    ):
        self._dice = dice
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
        final: str = CallStatus.COMPLETED
        try:
            final = await self._converse(call, inline_twiml)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.info("sandbox: call %s could not reach the app: %r", call.sid, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("sandbox: call %s failed", call.sid)
        finally:
            self._gates.pop(call.sid, None)
        await self._hang_up(call, final)

    def _plan(self, call: Call) -> tuple[str, str | None]:
        """Who picks up (failed, busy, no-answer, machine or human) and which keys they press.

        A plan set for the number (/sandbox/calls/plan) wins; otherwise the configured shares.
        """
        plan = self._state.call_plan(call.to)
        config = self._config
        if plan is not None:
            return plan.get("answer", "human"), plan.get("digits", config.call_digits)
        roll = self._dice()
        for fate, share in (
            (CallStatus.FAILED, config.call_failed_rate),
            (CallStatus.BUSY, config.busy_rate),
            (CallStatus.NO_ANSWER, config.no_answer_rate),
            ("machine", config.machine_rate),
        ):
            if roll < share:
                return str(fate), config.call_digits
            roll -= share
        return "human", config.call_digits

    async def _progress(self, call: Call, event: str, status: str) -> None:
        """A status callback for `event`, if the call asked for that event."""
        if self._config.callbacks and call.status_callback and event in call.events:
            params = call_params(call, status)
            params["CallbackSource"] = "call-progress-events"
            params["Timestamp"] = rfc2822(now()) or ""
            await self._dispatcher.deliver(call.status_callback, params, call.sid)

    async def _converse(self, call: Call, inline_twiml: str | None) -> str:
        """Play the call through; returns how it ended."""
        fate, digits = self._plan(call)
        await asyncio.sleep(self._config.callback_delay_ms / 1000)
        await self._progress(call, "initiated", CallStatus.QUEUED)
        self._state.update_call(call.sid, status=CallStatus.RINGING, date_updated=now())
        await self._progress(call, "ringing", CallStatus.RINGING)
        await asyncio.sleep(self._config.ring_ms / 1000)
        if fate in (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER):
            return fate
        answered_by = None
        if call.machine_detection:
            answered_by = "machine_end_beep" if fate == "machine" else "human"
        self._state.update_call(
            call.sid, status=CallStatus.IN_PROGRESS, date_updated=now(), answered_by=answered_by
        )
        call.answered_by = answered_by
        await self._progress(call, "answered", CallStatus.IN_PROGRESS)
        extra = {"AnsweredBy": answered_by} if answered_by else {}
        if inline_twiml is not None:
            twiml = inline_twiml
        else:
            _, twiml = await self._fetch(call, call.url or "", "POST", extra)
        self._state.update_call(call.sid, twiml=twiml)
        presser: asyncio.Task | None = None
        for _ in range(MAX_GATHERS):
            if find_gather(twiml) is None or fate == "machine":
                break
            gate = self._gates[call.sid] = _Gate()
            if digits and presser is None:
                presser = asyncio.create_task(self._press_soon(call.sid, digits))
            try:
                await asyncio.wait_for(gate.answered.wait(), self._config.gather_wait_seconds)
            except TimeoutError:
                if not gate.pressed:
                    break  # nobody pressed anything: Twilio moves on and the call ends
                await asyncio.wait_for(gate.answered.wait(), VOICE_TIMEOUT + 1)
            finally:
                self._gates.pop(call.sid, None)
            latest = self._state.get_call(call.sid)
            twiml = latest.twiml[-1] if latest and latest.twiml else ""
        await asyncio.sleep(self._config.talk_ms / 1000)
        return CallStatus.COMPLETED

    async def _press_soon(self, sid: str, digits: str) -> None:
        await asyncio.sleep(0)
        with contextlib.suppress(CallNotWaiting):
            await self.press(sid, digits)

    async def _fetch(
        self, call: Call, url: str, method: str, extra: dict[str, str]
    ) -> tuple[int, str]:
        params = call_params(call, CallStatus.IN_PROGRESS) | extra
        status, text = await self._dispatcher.post(url, params, method, timeout=VOICE_TIMEOUT)
        self._state.update_call(call.sid, document_url=url)
        return status, text

    async def _hang_up(self, call: Call, final: str = CallStatus.COMPLETED) -> None:
        ended = now()
        latest = self._state.get_call(call.sid)
        answered = final == CallStatus.COMPLETED
        started = (latest.start_time if latest else None) or ended
        duration = max(1, int((ended - started).total_seconds())) if answered else 0
        self._state.update_call(
            call.sid,
            status=final,
            end_time=ended,
            date_updated=ended,
            duration=duration,
        )
        if (
            self._config.callbacks
            and call.status_callback
            and ("completed" in call.events or not call.events)
        ):
            params = call_params(call, final)
            params["CallDuration"] = str(duration)
            params["Duration"] = str((duration + 59) // 60)
            params["Timestamp"] = rfc2822(ended) or ""
            params["CallbackSource"] = "call-progress-events"
            params["SequenceNumber"] = "0"
            if latest is not None and latest.answered_by:
                params["AnsweredBy"] = latest.answered_by
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
