"""A Redis token bucket shared by every worker, so a sender's rate holds across hosts."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import weakref

import redis
import redis.asyncio

# Redis's own clock (TIME) is the only clock: workers on different hosts, with skewed
# clocks, still agree. Rate and burst arrive as arguments on every call, so a changed
# rate applies at once; only the level and its timestamp are stored.
# Returns the wait as a string because Redis truncates Lua numbers to integers.
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens, ts = burst, now
end
-- After a failover the clock may step back; keeping the later stamp grants nothing twice.
if now > ts then
  tokens = tokens + (now - ts) * rate
  ts = now
end
if tokens > burst then
  tokens = burst
end
local wait = 0
-- The epsilon keeps float dust (0.9999999) from costing a pointless extra round trip.
if tokens + 1e-9 >= wanted then
  tokens = math.max(0, tokens - wanted)
else
  wait = (wanted - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', ts))
-- Once a bucket has had time to refill it is the same as no bucket, so let it go.
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.17g', wait)
"""

JITTER = 0.010  # seconds; spreads waiters that were told the same wait


class _Bucket:
    """Validation and arguments shared by the sync and async buckets."""

    def __init__(self, key: str, rate: float, burst: float | None) -> None:
        if not key:
            raise ValueError("a token bucket needs a key")
        self.key = key
        self.set_rate(rate, burst)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def set_rate(self, rate: float, burst: float | None = None) -> None:
        """Change tokens per second (and capacity, default one second's worth) from now on."""
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        burst = max(1.0, rate) if burst is None else burst
        if not burst >= 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self._rate = float(rate)
        self._burst = float(burst)

    def _args(self, n: int) -> list[str | int]:
        if n < 1:
            raise ValueError(f"must take at least one token, not {n}")
        if n > self.burst:
            # It would never fit in the bucket: waiting would last forever.
            raise ValueError(f"cannot take {n} tokens from a bucket holding {self.burst:g}")
        return [repr(self.rate), repr(self.burst), n]

    def _timeout_error(self, n: int, timeout: float | None) -> TimeoutError:
        return TimeoutError(f"{n} token(s) from {self.key!r} not available within {timeout} s")


class TokenBucket(_Bucket):
    """Blocking client of the shared bucket.

    Threads sharing one instance queue on a lock, so only one of them polls Redis at a time.
    """

    def __init__(
        self, client: redis.Redis, key: str, rate: float, burst: float | None = None
    ) -> None:
        super().__init__(key, rate, burst)
        self._script = client.register_script(_SCRIPT)
        self._lock = threading.Lock()

    def try_acquire(self, n: int = 1) -> float:
        """Take n tokens and return 0.0, or take none and return the seconds to wait."""
        return float(self._script(keys=[self.key], args=self._args(n)))

    def acquire(self, n: int = 1, timeout: float | None = None) -> None:
        """Wait until n tokens are taken.

        Raises TimeoutError once the tokens cannot come within timeout seconds, which may be
        before the timeout has run out: there is no point sleeping towards a sure failure.
        """
        self._args(n)
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        if deadline is None:
            self._lock.acquire()
        elif not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise self._timeout_error(n, timeout)
        try:
            while True:
                wait = self.try_acquire(n)
                if wait == 0:
                    return
                pause = wait + random.uniform(0, JITTER)
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if wait > remaining:
                        raise self._timeout_error(n, timeout)
                    pause = min(pause, remaining)
                time.sleep(pause)
        finally:
            self._lock.release()


class AsyncTokenBucket(_Bucket):
    """asyncio client of the shared bucket.

    Coroutines sharing one instance queue on a lock (one per event loop), so however many
    await it, one at a time polls Redis, sleeping the wait Redis gave plus a little jitter.
    """

    def __init__(
        self, client: redis.asyncio.Redis, key: str, rate: float, burst: float | None = None
    ) -> None:
        super().__init__(key, rate, burst)
        self._script = client.register_script(_SCRIPT)
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def try_acquire(self, n: int = 1) -> float:
        """Take n tokens and return 0.0, or take none and return the seconds to wait."""
        return float(await self._script(keys=[self.key], args=self._args(n)))

    async def acquire(self, n: int = 1, timeout: float | None = None) -> None:
        """Wait until n tokens are taken; TimeoutError as in TokenBucket.acquire."""
        self._args(n)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + max(0.0, timeout)
        # asyncio.Lock is bound to the loop it is first used on.
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            async with asyncio.timeout_at(deadline):
                await lock.acquire()
        except TimeoutError:
            raise self._timeout_error(n, timeout) from None
        try:
            while True:
                wait = await self.try_acquire(n)
                if wait == 0:
                    return
                pause = wait + random.uniform(0, JITTER)
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if wait > remaining:
                        raise self._timeout_error(n, timeout)
                    pause = min(pause, remaining)
                await asyncio.sleep(pause)
        finally:
            lock.release()
