"""Background loops stop when asked, even when what they await swallows a cancel."""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis.asyncio as aioredis
from conftest import REDIS_URL

from textbank.blasts.guards import OptOutWatch
from textbank.blasts.periodic import Periodic


def test_a_loop_whose_step_swallows_cancels_still_stops():
    steps = []

    async def stubborn() -> None:
        # What redis-py's asyncio client does to a cancel that lands mid-command, at times.
        steps.append(time.monotonic())
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.5)

    async def main():
        loop = Periodic(stubborn, 0.01, "stubborn").start()
        await asyncio.sleep(0.1)
        began = time.monotonic()
        await loop.stop(grace=0.2)
        stopped_in = time.monotonic() - began
        count = len(steps)
        await asyncio.sleep(0.7)
        return stopped_in, count, len(steps), loop

    stopped_in, at_stop, later, _ = asyncio.run(main())
    assert stopped_in < 0.5  # the grace, not the step's half second
    assert later == at_stop  # and no step began after it was told to stop


def test_the_opt_out_watch_always_stops_against_real_redis():
    # Each exit lands while the watch is mid-command most of the time (it refreshes every
    # millisecond here). Cancel-and-await lost roughly one exit in ten this way and then
    # waited for ever; every exit must come back promptly.
    async def main():
        client = aioredis.from_url(REDIS_URL)
        slowest = 0.0
        try:
            for _ in range(150):
                async with OptOutWatch(client, since=0, interval=0.001):
                    await asyncio.sleep(0.003)
                    began = time.monotonic()
                slowest = max(slowest, time.monotonic() - began)
        finally:
            await client.aclose()
        return slowest

    assert asyncio.run(asyncio.wait_for(main(), 60)) < 2.5


def test_a_step_that_fails_ends_the_loop_and_says_why(caplog):
    async def broken() -> None:
        raise RuntimeError("bad step")

    async def main():
        loop = Periodic(broken, 0.01, "broken").start()
        await asyncio.sleep(0.1)
        await loop.stop()

    asyncio.run(main())
    assert "broken: ended with RuntimeError('bad step')" in caplog.text


def test_an_opt_out_watch_whose_redis_stops_answering_turns_unhealthy():
    class Hanging:
        """Answers the first refresh, then never again (no error, no reply)."""

        calls = 0

        async def zrangebyscore(self, *args, **kwargs):
            self.calls += 1
            if self.calls > 1:
                await asyncio.sleep(30)
            return []

    async def main():
        async with OptOutWatch(Hanging(), since=0, interval=0.05) as watch:
            fresh = watch.healthy
            await asyncio.sleep(1.3)
            return fresh, watch.healthy

    fresh, later = asyncio.run(main())
    assert fresh is True
    assert later is False  # its senders now hold off instead of trusting a stale copy
