"""The account's calls per second: one schedule shared by every worker, never a burst."""

from __future__ import annotations

import asyncio
import itertools
import time

import redis.asyncio
from conftest import REDIS_URL

from textbank.calls.pacing import (
    AHEAD_SECONDS,
    LATE_SECONDS,
    PACE_SHARE,
    CallPace,
    call_bucket,
)


def test_every_workers_turns_interleave_evenly_and_never_faster_than_the_rate(redis_client):
    """Two workers' paces on one account, forty callers each, for about two seconds: by
    Redis's clock no two turns are closer than 1/rate, so no window of any length holds
    more calls than the rate allows; and together they keep to the rate within 5%."""
    rate, wanted = 100.0, 200
    issued: list[float] = []

    async def main() -> float:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        paces = [call_bucket(client, "+15005550006", rate) for _ in range(2)]
        for pace in paces:  # note every turn Redis hands out, by Redis's clock
            reserve = pace.reserve

            async def noting(n=None, reserve=reserve, pace=pace):
                got = await reserve(n)
                if got.first_turn is not None:
                    issued.extend(got.first_turn + i * pace.interval for i in range(got.turns))
                return got

            pace.reserve = noting  # type: ignore[method-assign]
        taken = 0
        start = time.perf_counter()

        async def caller(pace: CallPace) -> None:
            nonlocal taken
            while taken < wanted:
                await pace.acquire()
                taken += 1

        await asyncio.gather(*(caller(p) for p in paces for _ in range(40)))
        elapsed = time.perf_counter() - start
        await client.aclose()
        return elapsed

    elapsed = asyncio.run(main())
    turns = sorted(issued)
    interval = 1 / rate
    gaps = [b - a for a, b in itertools.pairwise(turns)]
    assert min(gaps) >= interval - 1e-6, min(gaps)
    for i, start in enumerate(turns):  # any one second, by the schedule: at most the rate
        assert sum(1 for t in turns[i:] if t < start + 1) <= rate
    achieved = (len(turns) - 1) / (turns[-1] - turns[0])
    assert 0.95 * rate <= achieved <= rate, achieved
    assert elapsed >= (wanted - 1) / rate - 0.05, elapsed


def test_a_pause_earns_no_burst(redis_client):
    """Turns nobody used are gone: after a quiet spell the next turn is now, not earlier,
    and a worker cannot reserve more than AHEAD_SECONDS of turns in advance."""
    rate = 50.0

    async def main() -> list:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        pace = call_bucket(client, "+15005550006", rate)
        first = await pace.reserve()
        await asyncio.sleep(0.5)  # idle: half a second's calls not made
        after_pause = await pace.reserve()
        ahead = [await pace.reserve() for _ in range(10)]
        server_now = await client.time()
        await client.aclose()
        return [first, after_pause, ahead, server_now[0] + server_now[1] / 1e6]

    first, after_pause, ahead, now = asyncio.run(main())
    assert first.offset == 0.0 and after_pause.offset == 0.0
    assert after_pause.first_turn >= first.first_turn + 0.5
    handed = [r for r in ahead if r.offset is not None]
    assert handed and all(r.offset <= AHEAD_SECONDS + 1e-6 for r in handed)
    refused = [r for r in ahead if r.offset is None]
    assert refused and all(r.wait > 0 for r in refused)
    # What was handed out reaches no further than AHEAD_SECONDS (plus one block) past now.
    pace_interval = 1 / (rate * PACE_SHARE)
    last = max(r.first_turn for r in handed) + (round(rate / 10) - 1) * pace_interval
    assert last <= now + AHEAD_SECONDS + rate / 10 * pace_interval + 0.01


def test_a_caller_that_wakes_late_gives_up_its_turn(redis_client):
    """A worker whose loop stalls past a caller's turn: that caller does not place on the
    stale turn (bunched with the turns after it, it would put the window over the rate) but
    takes a fresh one, no earlier than when it woke."""
    stalls: list[float] = []

    async def main() -> tuple[float, float]:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        loop = asyncio.get_running_loop()
        pace = call_bucket(client, "+15005550006", 2.0)  # a turn every half second

        async def stalled(delay: float) -> None:
            pace._sleep = asyncio.sleep  # stalls once
            await asyncio.sleep(delay)
            time.sleep(0.3)  # the event loop is held: the caller wakes 0.3 s after its turn
            stalls.append(loop.time())

        await pace.acquire()  # the first turn is now
        pace._sleep = stalled
        turn = await pace.acquire()  # half a second on, but woken 0.3 s late
        await client.aclose()
        return turn, stalls[0]

    turn, woke = asyncio.run(main())
    assert stalls, "the second caller never waited for its turn"
    assert turn >= woke - LATE_SECONDS, (turn, woke)


def test_a_lone_caller_reserves_one_turn_not_a_block(redis_client):
    """At 200 calls/s a worker reserves up to 20 turns a round trip, but one caller waiting
    takes one: the next turn goes to whichever worker asks next, not to nobody."""

    async def main() -> tuple[float, float, float]:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        lone, other = (call_bucket(client, "+15005550006", 200.0) for _ in range(2))
        assert lone.block == 20
        seen: list[float] = []
        reserve = lone.reserve

        async def noting(n=None):
            got = await reserve(n)
            seen.append(got.turns)
            return got

        lone.reserve = noting  # type: ignore[method-assign]
        await lone.acquire()
        first = await other.reserve(1)
        await client.aclose()
        return seen[0], first.offset or 0.0, lone.interval

    count, offset, interval = asyncio.run(main())
    assert count == 1
    # The other worker's turn is one interval after the lone caller's, not twenty.
    assert offset <= 2 * interval, (offset, interval)
