"""What paces calls across every worker: calls per second, and calls live at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from textbank.blasts.ratelimit import AsyncTokenBucket

log = logging.getLogger(__name__)

# Members are "<call row id>:<attempt>", scored by when the slot lapses: a slot whose
# ending callback was lost frees itself rather than holding the cap down for ever.
# KEYS: the set, its "built" marker, the attempts rebuilt while placing (see _REBUILD).
# Returns 1 (taken), 0 (the cap is full) or -1: the marker is gone (Redis restarted or was
# flushed), so the set no longer knows the calls in progress and must be rebuilt first.
_TAKE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return -1
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  if redis.call('SREM', KEYS[3], ARGV[3]) == 0 then
    return 1
  end
  -- Rebuilt from a row still placing, and its worker is asking: the call was not made yet.
  redis.call('ZREM', KEYS[1], ARGV[3])
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  return 1
end
return 0
"""
# The set again from the database, once (whoever gets here first): every attempt not over.
# A row still placing may be a create in flight (it holds its slot, released by its
# callback like any other) or a row its worker has not placed yet (that worker's next take
# finds it in KEYS[3] and takes a slot for real): counting both keeps the cap.
# ARGV: slot seconds, then "live" names, an empty string, then "placing" names.
_REBUILD = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local clock = redis.call('TIME')
local lapse = tonumber(clock[1]) + tonumber(ARGV[1])
redis.call('DEL', KEYS[1], KEYS[3])
local placing = false
for i = 2, #ARGV do
  if ARGV[i] == '' then
    placing = true
  else
    redis.call('ZADD', KEYS[1], lapse, ARGV[i])
    if placing then
      redis.call('SADD', KEYS[3], ARGV[i])
    end
  end
end
redis.call('EXPIRE', KEYS[3], ARGV[1])
redis.call('SET', KEYS[2], '1')
return 1
"""
LIVE_KEY = "textbank:calls:live"
# Longest a call can hold a slot without its ending callback: ring time plus a long menu
# and a connected call. Lost callbacks are rare; the sweeper frees ended calls sooner.
SLOT_SECONDS = 15 * 60


def slot_name(call_id: int, attempt: int) -> str:
    return f"{call_id}:{attempt}"


def call_bucket(client: aioredis.Redis, sender: str, rate: float) -> CallPace:
    """The account's calls per second, shared by every worker.

    Taken a tenth of a second's worth at a time (at least one call), so a worker asks Redis
    ten times a second, not once per call: on a busy host a round trip can take longer than
    a call's turn. The bucket holds two such blocks, so a worker that wakes a little late
    loses nothing; over any ten seconds that is at most 2% ahead, and only if the bucket
    starts full, which it never does (see CallPace.start).
    """
    block = max(1, int(rate / 10))
    bucket = AsyncTokenBucket(client, f"textbank:callrate:{sender}", rate, 2 * block)
    return CallPace(client, bucket, block)


# A bucket nobody has used lately starts empty rather than full: the first calls of a
# campaign then keep to the rate from the first second.
_START_EMPTY = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
  redis.call('HSET', KEYS[1], 'tokens', '0', 'ts', string.format('%.17g', now))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 0
"""


class CallPace:
    """Takes tokens from the shared bucket `block` at a time and hands them out locally."""

    def __init__(self, client: aioredis.Redis, bucket: AsyncTokenBucket, block: int) -> None:
        self.bucket, self._block = bucket, block
        self._start = client.register_script(_START_EMPTY)
        self._tokens = 0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Create the shared bucket empty if it is not there (a fresh one would start full)."""
        ttl_ms = int(self.bucket.burst / self.bucket.rate * 1000) + 1000
        await self._start(keys=[self.bucket.key], args=[ttl_ms])

    async def acquire(self) -> None:
        async with self._lock:
            if self._tokens == 0:
                await self.bucket.acquire(self._block)
                self._tokens = self._block
            self._tokens -= 1


# What the cap's set is rebuilt from: (attempts in progress, attempts still placing).
LiveSource = Callable[[], Awaitable[tuple[list[str], list[str]]]]


class LiveCalls:
    """A cap on calls in progress across every worker (Twilio's concurrent-call limit).

    The set lives in Redis; if Redis loses it (a restart without persistence, a flush) the
    next take rebuilds it from `source` (the database's calls not yet over) before
    anything else is placed, so the calls already in progress still count.
    """

    def __init__(
        self, client: aioredis.Redis, cap: int, source: LiveSource, key: str = LIVE_KEY
    ) -> None:
        self._script = client.register_script(_TAKE)
        self._rebuild = client.register_script(_REBUILD)
        self._client = client
        self._source = source
        self.cap = cap
        self.key = key
        self.keys = [key, f"{key}:built", f"{key}:placing"]

    async def try_take(self, name: str, seconds: float = SLOT_SECONDS) -> bool:
        for _ in range(3):
            taken = await self._script(keys=self.keys, args=[self.cap, seconds, name])
            if taken != -1:
                return bool(taken)
            live, placing = await self._source()
            if await self._rebuild(keys=self.keys, args=[SLOT_SECONDS, *live, "", *placing]):
                log.warning("live-call set rebuilt from the database: %d calls in progress, "
                            "%d placing", len(live), len(placing))  # fmt: skip
        return False  # the set keeps vanishing: place nothing until it holds

    async def release(self, name: str) -> None:
        await self._client.zrem(self.key, name)


def release_slot(client, name: str, key: str = LIVE_KEY) -> None:
    """From a callback or the sweeper (sync Redis): the call is over."""
    client.zrem(key, name)
