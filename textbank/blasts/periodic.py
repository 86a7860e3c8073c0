"""Background loops on an event loop that stop when asked, whatever their step awaits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    """Await `step()` every `interval` seconds, in a task of its own, until stopped.

    Stopping sets a flag the loop checks between steps and waits a bounded time, instead
    of cancelling and awaiting the task: redis-py's asyncio client can swallow a task's
    cancellation when it lands mid-command (redis/redis-py#2028 and #2551; with redis 8.1
    about one cancel in ten of a ZRANGEBYSCORE was lost here), and a cancel-and-await on
    such a task waits forever. A worker sat ten minutes in a send job that had sent every
    row that way, waiting on its opt-out watch.
    """

    def __init__(self, step: Callable[[], Awaitable[None]], interval: float, name: str) -> None:
        self._step, self._interval, self._name = step, interval, name
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self, step_first: bool = False) -> Periodic:
        """Begin in the background: with a step at once, or after the first interval."""
        self._task = asyncio.create_task(self._run(step_first), name=self._name)
        return self

    async def _run(self, step_first: bool) -> None:
        if step_first:
            await self._step()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._stopping.is_set():
                return
            await self._step()

    async def stop(self, grace: float = 2.0) -> None:
        """Ask the loop to end and give it `grace` seconds; never waits longer."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            # A step still running (a slow Redis): interrupt it; if the cancel is lost,
            # the loop still ends at its next look at the flag.
            task.cancel()
            log.warning("%s: still in a step after %.1f s, cancelled", self._name, grace)
        elif not task.cancelled() and task.exception() is not None:
            log.error("%s: ended with %r", self._name, task.exception())
