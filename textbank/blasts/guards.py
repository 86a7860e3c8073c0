"""What a sender consults before each request: recent opt-outs and the shared pace."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import cast

import redis
import redis.asyncio as aioredis

from textbank.blasts.periodic import Periodic
from textbank.blasts.ratelimit import AsyncTokenBucket
from textbank.compliance.optouts import RECENT_KEY

log = logging.getLogger(__name__)


class OptOutWatch:
    """A local copy of recent opt-outs, refreshed from Redis a few times a second.

    One Redis call per interval instead of one per message; a STOP reaches every
    sender within `interval` seconds. `healthy` is whether the copy is fresh, worked out
    from the last refresh that answered, so a watch whose Redis hangs or whose loop died
    holds its senders off as surely as one told that Redis is down.
    """

    def __init__(
        self, client: aioredis.Redis, since: float, interval: float = 0.2, key: str = RECENT_KEY
    ) -> None:
        self._client = client
        self._key = key  # the global list by default; voice placers also watch do-not-call
        self._since = since
        self._interval = interval
        self.phones: set[str] = set()
        self._loop: Periodic | None = None
        self._fresh_at: float | None = None  # monotonic time of the last answered refresh
        # A few missed refreshes are a slow moment; more, and the copy may miss a STOP.
        self._stale_after = max(1.0, 5 * interval)

    @property
    def healthy(self) -> bool:
        fresh_at = self._fresh_at
        return fresh_at is not None and time.monotonic() - fresh_at < self._stale_after

    async def refresh(self) -> None:
        entries = await self._client.zrangebyscore(self._key, self._since, "+inf", withscores=True)
        for phone, score in cast(list[tuple[bytes | str, float]], entries):
            self.phones.add(phone.decode() if isinstance(phone, bytes) else phone)
            self._since = max(self._since, score)
        self._fresh_at = time.monotonic()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except redis.RedisError as exc:
            self._fresh_at = None  # senders hold off until it answers again
            log.warning("opt-out watch: Redis unavailable (%s)", exc)

    async def __aenter__(self) -> OptOutWatch:
        await self.refresh()
        self._loop = Periodic(self._refresh_quietly, self._interval, "opt-out watch").start()
        return self

    async def __aexit__(self, *exc) -> None:
        if self._loop is not None:
            await self._loop.stop()


class TokenReservoir:
    """Takes tokens from the shared bucket a block at a time and hands them out locally."""

    def __init__(self, bucket: AsyncTokenBucket, rate: float) -> None:
        self._bucket = bucket
        # A twentieth of a second's worth: few Redis calls, and bursts stay small.
        self._block = max(1, min(100, int(rate / 20)))
        self._tokens = 0
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if self._tokens == 0:
            async with self._lock:
                if self._tokens == 0:
                    await self._bucket.acquire(self._block)
                    self._tokens = self._block
        self._tokens -= 1
