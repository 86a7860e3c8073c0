"""Signed webhook delivery: message lifecycles and status callbacks from a bounded pool."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

from textbank.sandbox.config import SandboxConfig
from textbank.sandbox.resources import now
from textbank.sandbox.state import MessageStatus, SandboxState
from textbank.sandbox.webhooks import signature, status_params

logger = logging.getLogger(__name__)

ERROR_CODES = (30003, 30005, 30006, 30007)
RETRY_BACKOFF = 0.1  # seconds, doubled per attempt


@dataclass(slots=True)
class Step:
    """One status change of one message, due at loop time `due`."""

    sid: str
    status: str
    error_code: int | None = None
    # False for a "sent" that arrives after "delivered": callback only, the status stays.
    apply: bool = True
    copies: int = 1  # 2 sends the callback twice, as Twilio sometimes does
    then: Step | None = None
    due: float = 0.0
    done: asyncio.Future[None] | None = None  # set on a lifecycle's last step, when asked


class Dispatcher:
    """Owns the one HTTP session the sandbox uses to reach the app, and the callback queue.

    Steps go into one FIFO queue, each due `callback_delay_ms` after it was queued, so the
    queue is ordered by due time and a fixed pool of sender tasks drains it: 100k messages
    cost 100k small objects, never 100k sockets or tasks.
    """

    def __init__(
        self, config: SandboxConfig, state: SandboxState, random: Callable[[], float]
    ) -> None:
        self._config = config
        self._state = state
        self._random = random
        self._queue: asyncio.Queue[Step] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._inbound: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        limit = self._config.callback_concurrency
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
        self._session = aiohttp.ClientSession(connector=connector)
        # Members' texts reach the app on connections of their own, as Twilio's inbound
        # webhooks do: never queued behind a backlog of status callbacks for the pool above.
        self._inbound = aiohttp.ClientSession()
        self._workers = [asyncio.create_task(self._work()) for _ in range(limit)]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._inbound is not None:
            await self._inbound.close()
            self._inbound = None

    def pending(self) -> int:
        return self._queue.qsize()

    # -- message lifecycles ---------------------------------------------------------------

    def schedule_message(self, sid: str, track: bool = False) -> asyncio.Future[None] | None:
        """Plan a new message's fate (delivered, undelivered or failed) and start it.

        Every roll happens here, in request order, so a random_seed replays the same fates.
        With `track`, the returned future resolves once the last status step (and its
        callback, if any) is done.
        """
        config, roll = self._config, self._random
        fate, code = roll(), ERROR_CODES[int(roll() * len(ERROR_CODES))]
        reorder = roll() < config.reorder_callbacks
        copies = [2 if roll() < config.duplicate_callback_rate else 1 for _ in range(2)]
        if fate < config.failed_rate:
            # Twilio never reports "sent" for a message the carrier refused outright.
            first = last = Step(sid, MessageStatus.FAILED, code, copies=copies[0])
        else:
            final_status = (
                MessageStatus.UNDELIVERED
                if fate < config.failed_rate + config.undelivered_rate
                else MessageStatus.DELIVERED
            )
            failed = final_status != MessageStatus.DELIVERED
            final = Step(sid, final_status, code if failed else None, copies=copies[1])
            # Reordered, "sent" arrives last and must not move the stored status back.
            sent = Step(sid, MessageStatus.SENT, apply=not reorder, copies=copies[0])
            if reorder:
                final.then = sent
                first, last = final, sent
            else:
                sent.then = final
                first, last = sent, final
        if track:
            last.done = asyncio.get_running_loop().create_future()
        self._enqueue(first)
        return last.done

    def _enqueue(self, step: Step) -> None:
        step.due = asyncio.get_running_loop().time() + self._config.callback_delay_ms / 1000
        self._queue.put_nowait(step)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            step = await self._queue.get()
            wait = step.due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self._run(step)
            except Exception:
                logger.exception("sandbox: status step %s for %s failed", step.status, step.sid)
            finally:
                if step.done is not None and not step.done.done():
                    step.done.set_result(None)

    async def _run(self, step: Step) -> None:
        config, state = self._config, self._state
        if step.apply:
            message = state.update_message(
                step.sid, step.status, now(), step.error_code, from_=config.sender_number
            )
        else:
            message = state.get_message(step.sid)
        if message is None:
            return  # the sandbox was reset meanwhile
        if config.callbacks and message.status_callback:
            params = status_params(message, step.status, step.error_code, config.sender_number)
            for _ in range(step.copies):
                await self.deliver(message.status_callback, params, step.sid)
        if step.then is not None:
            self._enqueue(step.then)

    # -- HTTP to the app ------------------------------------------------------------------

    async def deliver(self, url: str, params: dict[str, str], sid: str) -> bool:
        """POST a callback, retrying errors and 5xx a few times; False when it was dropped."""
        retries = self._config.callback_retries
        outcome = "no attempt"
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(RETRY_BACKOFF * 2 ** (attempt - 1))
            try:
                status, _ = await self.post(url, params)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = repr(exc)
                continue
            if status < 500:
                self._state.bump("callbacks_sent")
                return True
            outcome = f"HTTP {status}"
        self._state.bump("callbacks_dropped")
        logger.debug("sandbox: dropped callback for %s to %s after %s", sid, url, outcome)
        return False

    async def post(
        self,
        url: str,
        params: dict[str, str],
        method: str = "POST",
        timeout: float | None = None,
        inbound: bool = False,
    ) -> tuple[int, str]:
        """One signed webhook request, as Twilio makes it: (status, response text).

        `inbound`: a member's text, sent on the inbound connections (see start)."""
        session = self._inbound if inbound else self._session
        if session is None:
            raise RuntimeError("the sandbox dispatcher is not running")
        if method == "GET":
            # Twilio signs a GET on the full URL, query included, with no body params.
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
            params = {}
        headers = {
            "X-Twilio-Signature": signature(self._config.auth_token, url, params),
            "User-Agent": "TwilioProxy/1.1",
        }
        limit = aiohttp.ClientTimeout(total=timeout or self._config.callback_timeout_seconds)
        async with session.request(
            method,
            url,
            data=params or None,
            headers=headers,
            timeout=limit,
            allow_redirects=False,
        ) as response:
            return response.status, await response.text()
