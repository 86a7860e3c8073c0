"""The shared token bucket, against a real Redis, from threads, processes and coroutines."""

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
import redis.asyncio

from textbank.blasts.ratelimit import AsyncTokenBucket, TokenBucket

# Buckets live under unique keys; no test here flushes, so sharing the test database is safe.
REDIS_URL = os.environ.get("TEXTBANK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Another process taking tokens from the same bucket: reports ready, waits for the start
# and end times (wall clock) on stdin, then prints how many tokens it took in between.
_WORKER = """
import sys, redis
from test_ratelimit import take_until
from textbank.blasts.ratelimit import TokenBucket

url, key, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
bucket = TokenBucket(redis.Redis.from_url(url), key, rate)
print("ready", flush=True)
start, end = (float(part) for part in sys.stdin.readline().split())
print(take_until(bucket, start, end), flush=True)
"""


def take_until(bucket: TokenBucket, start: float, end: float) -> int:
    """Tokens taken one at a time between two wall-clock times."""
    time.sleep(max(0.0, start - time.time()))
    taken = 0
    for _ in range(1_000_000):  # bounded: far more than any rate here allows
        remaining = end - time.time()
        if remaining <= 0:
            break
        try:
            bucket.acquire(1, timeout=remaining)
        except TimeoutError:
            break
        taken += 1
    return taken


@pytest.fixture
def client():
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def key(client):
    name = f"test:ratelimit:{uuid.uuid4().hex}"
    yield name
    client.delete(name)


# --- basics ---------------------------------------------------------------------------------


def test_burst_then_refill(client, key):
    bucket = TokenBucket(client, key, rate=10, burst=5)
    assert [bucket.try_acquire() for _ in range(5)] == [0.0] * 5
    wait = bucket.try_acquire()
    assert 0 < wait <= 0.1
    time.sleep(0.25)  # 2.5 tokens come back
    assert bucket.try_acquire() == 0.0
    assert bucket.try_acquire() == 0.0
    assert 0 < bucket.try_acquire() <= 0.1


def test_try_acquire_returns_a_sensible_wait_and_takes_nothing(client, key):
    bucket = TokenBucket(client, key, rate=10, burst=10)
    assert bucket.try_acquire(10) == 0.0
    assert 0.08 <= bucket.try_acquire(1) <= 0.1
    assert 0.48 <= bucket.try_acquire(5) <= 0.5
    # The refused requests took nothing: one token is back after a tenth of a second.
    time.sleep(0.12)
    assert bucket.try_acquire(1) == 0.0


def test_default_burst_is_one_seconds_worth(client, key):
    assert TokenBucket(client, key, rate=50).burst == 50
    assert TokenBucket(client, key, rate=0.5).burst == 1
    bucket = TokenBucket(client, key, rate=20)
    assert bucket.try_acquire(20) == 0.0
    assert bucket.try_acquire() > 0


def test_state_is_a_hash_that_expires(client, key):
    TokenBucket(client, key, rate=100, burst=200).try_acquire(3)
    state = client.hgetall(key)
    assert set(state) == {b"tokens", b"ts"}
    assert 196 <= float(state[b"tokens"]) <= 198
    assert 0 < client.pttl(key) <= 3000  # refilled after 2 s, plus a margin


def test_rate_change_applies_at_once(client, key):
    slow = TokenBucket(client, key, rate=1, burst=1)
    assert slow.try_acquire() == 0.0
    assert slow.try_acquire() > 0.9
    time.sleep(0.05)
    fast = TokenBucket(client, key, rate=100, burst=1)
    assert fast.try_acquire() == 0.0  # at 1/s this would still be almost a second away
    assert 0 < fast.try_acquire() <= 0.01
    # And back again: at 1/s the next token is most of a second away (at 100/s it would be
    # 0.01 s); the margin keeps a loaded machine's pause between calls from failing this.
    assert slow.try_acquire() > 0.1


def test_set_rate_changes_one_instance(client, key):
    bucket = TokenBucket(client, key, rate=1, burst=1)
    assert bucket.try_acquire() == 0.0
    bucket.set_rate(100)
    assert (bucket.rate, bucket.burst) == (100, 100)
    assert 0 < bucket.try_acquire(50) <= 0.5
    with pytest.raises(ValueError):
        bucket.set_rate(0)
    assert bucket.rate == 100


def test_lower_burst_caps_what_is_stored(client, key):
    assert TokenBucket(client, key, rate=1, burst=10).try_acquire(1) == 0.0  # 9 left
    small = TokenBucket(client, key, rate=1, burst=2)
    assert small.try_acquire(2) == 0.0
    assert small.try_acquire(1) > 0.9


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, None), (-5, None), (10, 0), (10, 0.5), (float("nan"), None)]
)
def test_bad_settings_are_refused(client, key, rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(client, key, rate=rate, burst=burst)


def test_bad_token_counts_are_refused(client, key):
    bucket = TokenBucket(client, key, rate=10, burst=5)
    for n in (0, -1, 6):
        with pytest.raises(ValueError):
            bucket.try_acquire(n)
        with pytest.raises(ValueError):
            bucket.acquire(n, timeout=1)


# --- blocking acquire -----------------------------------------------------------------------


def test_acquire_waits_for_the_refill(client, key):
    bucket = TokenBucket(client, key, rate=10, burst=1)
    bucket.acquire()
    started = time.monotonic()
    bucket.acquire(timeout=1)
    assert 0.08 <= time.monotonic() - started <= 0.3


def test_acquire_times_out(client, key):
    bucket = TokenBucket(client, key, rate=1, burst=1)
    bucket.acquire()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=key):
        bucket.acquire(timeout=0.2)
    # A wait of a second cannot fit in 0.2 s, so there is no point sleeping through it.
    assert time.monotonic() - started < 0.2
    with pytest.raises(TimeoutError):
        bucket.acquire(timeout=0)


def test_threads_share_one_instance(client, key):
    bucket = TokenBucket(client, key, rate=100, burst=10)
    counts = [0] * 4
    start, end = time.time() + 0.05, time.time() + 0.55

    def run(i: int) -> None:
        counts[i] = take_until(bucket, start, end)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert 0.9 * 60 <= sum(counts) <= 1.1 * 60  # 100/s for 0.5 s, plus the burst of 10


def test_processes_share_one_bucket(client, key):
    rate, seconds = 200, 1.5
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, REDIS_URL, key, str(rate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        start = time.time() + 0.1
        end = start + seconds
        for worker in workers:
            worker.stdin.write(f"{start} {end}\n")
            worker.stdin.flush()
        here = take_until(TokenBucket(client, key, rate), start, end)
        theirs = [int(worker.communicate(timeout=10)[0].strip()) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    total = here + sum(theirs)
    expected = rate * seconds + rate  # a full bucket to start with, then the refill
    assert abs(total - expected) <= 0.1 * expected, (here, theirs)
    # Everybody got a share: nobody was starved by the others.
    assert min(here, *theirs) > 0.1 * total


# --- asyncio --------------------------------------------------------------------------------


def test_async_coroutines_share_the_rate_without_stampeding():
    async def main() -> tuple[int, int, float]:
        aclient = redis.asyncio.Redis.from_url(REDIS_URL)
        key = f"test:ratelimit:{uuid.uuid4().hex}"
        try:
            bucket = AsyncTokenBucket(aclient, key, rate=100)
            assert await bucket.try_acquire(100) == 0.0  # empty it: measure the steady rate
            calls = 0
            real_try = bucket.try_acquire

            async def counting_try(n: int = 1) -> float:
                nonlocal calls
                calls += 1
                return await real_try(n)

            bucket.try_acquire = counting_try  # type: ignore[method-assign]
            loop = asyncio.get_running_loop()
            started = loop.time()
            end = started + 2.0

            async def worker() -> int:
                taken = 0
                for _ in range(10_000):
                    remaining = end - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        await bucket.acquire(timeout=remaining)
                    except TimeoutError:
                        break
                    taken += 1
                return taken

            counts = await asyncio.gather(*(worker() for _ in range(50)))
            return sum(counts), calls, loop.time() - started
        finally:
            await aclient.delete(key)
            await aclient.aclose()

    taken, calls, elapsed = asyncio.run(main())
    assert abs(taken / elapsed - 100) <= 15, (taken, elapsed)
    # One poll to learn the wait and one to take the token, not one per waiting coroutine.
    assert calls <= 3 * taken + 100, (calls, taken)


def test_async_acquire_times_out_even_while_queued():
    async def main() -> None:
        aclient = redis.asyncio.Redis.from_url(REDIS_URL)
        key = f"test:ratelimit:{uuid.uuid4().hex}"
        try:
            bucket = AsyncTokenBucket(aclient, key, rate=2, burst=1)
            await bucket.acquire()
            started = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError):
                await bucket.acquire(timeout=0.1)
            assert asyncio.get_running_loop().time() - started < 0.1
            # One coroutine waits its 0.5 s for the next token; one queued behind it gives up.
            holder = asyncio.create_task(bucket.acquire(timeout=2))
            await asyncio.sleep(0.05)
            with pytest.raises(TimeoutError):
                await bucket.acquire(timeout=0.1)
            await holder
            elapsed = asyncio.get_running_loop().time() - started
            assert 0.4 <= elapsed <= 0.8
        finally:
            await aclient.delete(key)
            await aclient.aclose()

    asyncio.run(main())
