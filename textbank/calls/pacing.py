"""What paces calls across every worker: calls per second, and calls live at once."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import redis.asyncio as aioredis

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


# The account's pace as a schedule rather than a bucket of tokens: KEYS[1] holds when the
# next call may go (Redis's clock; "the theoretical arrival time" of GCRA). A reservation
# hands out ARGV[2] consecutive turns ARGV[1] seconds apart, starting then or now, whichever
# is later: time nobody used earns nothing, so no burst ever follows a pause, and every
# worker's turns interleave into one evenly spaced sequence. A turn further ahead than
# ARGV[3] seconds is not handed out yet: {"", wait} says how long to wait before asking.
# Otherwise {offset of the first turn from now, "", the first turn by Redis's clock}.
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local interval = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local ahead = tonumber(ARGV[3])
local next_turn = tonumber(redis.call('GET', KEYS[1]) or '0')
-- After a failover the clock may step back: the stored turn stays, so nothing is granted twice.
if next_turn < now then
  next_turn = now
end
if next_turn - now > ahead then
  return {'', string.format('%.17g', next_turn - now - ahead)}
end
local after = next_turn + n * interval
redis.call('SET', KEYS[1], string.format('%.17g', after), 'PX',
           math.ceil((after - now) * 1000) + 1000)
return {string.format('%.17g', next_turn - now), '', string.format('%.17g', next_turn)}
"""
# The schedule runs this far under the account's rate: over a 10 s window that is 0.2 s of
# slack, so a call that reaches the carrier up to a fifth of a second after its turn (a busy
# event loop, a slow round trip, a worker's first call opening its connection) still never
# puts a window over the rate. 98% is within the 5% asked.
PACE_SHARE = 0.98
TURN_SECONDS = 0.1  # turns reserved per round trip: a tenth of a second's worth
AHEAD_SECONDS = 0.2  # how far ahead of its turns a worker may reserve
# A turn this far past is dropped, not used: sending it now would bunch it with the turns
# after it (a claim's last caller left some unused; the next claim's callers come later).
# A quarter of the slack above; the rest is for the trip to the carrier.
LATE_SECONDS = 0.05


def call_bucket(client: aioredis.Redis, sender: str, rate: float) -> CallPace:
    """The account's calls per second, shared by every worker."""
    return CallPace(client, f"textbank:callpace:{sender}", rate)


class Reservation(NamedTuple):
    offset: float | None  # seconds from now to the first turn; None: none handed out
    wait: float  # when none: seconds before asking again
    first_turn: float | None  # the first turn by Redis's clock (what tests check)
    turns: int = 0  # how many handed out, one interval apart


class CallPace:
    """Each call waits for its own turn on a schedule shared by every worker.

    A worker reserves up to a tenth of a second's turns at a time (no more than it has
    callers waiting for one), so it asks Redis about ten times a second rather than once per
    call, and hands them to its callers in order; each caller sleeps until its turn. Offsets,
    not times, come back from Redis, so a worker whose clock is skewed from Redis's still
    keeps to Redis's schedule.
    """

    def __init__(self, client: aioredis.Redis, key: str, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        self.key, self.rate = key, float(rate)
        self.interval = 1 / (self.rate * PACE_SHARE)
        self.block = max(1, round(self.rate * TURN_SECONDS))
        self._reserve = client.register_script(_RESERVE)
        self._turns: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()
        self._unserved = 0  # callers in acquire() holding no turn yet
        # How a caller waits for its turn (a test stands in a worker whose loop stalls).
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def start(self) -> None:
        """Nothing to prepare: an unused schedule starts from now (kept for the placer)."""

    async def reserve(self, n: int | None = None) -> Reservation:
        """One round trip for the next n turns (`block`), or how long to wait before asking."""
        n = self.block if n is None else max(1, min(n, self.block))
        answer = await self._reserve(
            keys=[self.key], args=[repr(self.interval), n, repr(AHEAD_SECONDS)]
        )
        if answer[0] in (b"", ""):
            return Reservation(None, float(answer[1]), None)
        return Reservation(float(answer[0]), 0.0, float(answer[2]), n)

    async def acquire(self) -> float:
        """Wait for this call's turn; returns the turn, by the event loop's clock."""
        loop = asyncio.get_running_loop()
        self._unserved += 1
        served = False
        try:
            while True:
                turn = await self._next_turn(loop)  # counts this caller served
                served = True
                delay = turn - loop.time()
                if delay > 0:
                    await self._sleep(delay)
                if loop.time() - turn <= LATE_SECONDS:
                    return turn
                # Woke late (the worker stalled: a busy loop, a slow host): placing now would
                # bunch this call with the turns after it and put that window over the
                # rate. The turn goes unused, which the schedule's slack absorbs; take a
                # fresh one.
                self._unserved += 1
                served = False
        finally:
            if not served:  # cancelled while waiting for a turn
                self._unserved -= 1

    async def _next_turn(self, loop: asyncio.AbstractEventLoop) -> float:
        async with self._lock:
            while self._turns and self._turns[0] < loop.time() - LATE_SECONDS:
                self._turns.popleft()
            while not self._turns:
                # Only as many as there are callers to use them: a turn reserved for nobody
                # is a gap in the pace now, and a late turn for the next claim's callers.
                got = await self.reserve(self._unserved)
                if got.offset is None:
                    await asyncio.sleep(got.wait)
                    continue
                start = loop.time() + got.offset
                self._turns.extend(start + i * self.interval for i in range(got.turns))
            self._unserved -= 1
            return self._turns.popleft()


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
