"""The account's calls per second: one schedule shared by every worker, never a burst."""

from __future__ import annotations

import asyncio
import itertools
import time

import redis.asyncio
from conftest import REDIS_URL

from textbank.calls.pacing import AHEAD_SECONDS, PACE_SHARE, CallPace, call_bucket


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

            async def noting(reserve=reserve, pace=pace):
                got = await reserve()
                if got.first_turn is not None:
                    issued.extend(got.first_turn + i * pace.interval for i in range(pace.block))
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
