"""Per-process resources for jobs, set up when the worker starts (never at import)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import redis
import uvloop
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from textbank import redis_conn
from textbank.blasts.sender import Channels
from textbank.config import Settings
from textbank.db import make_engine, make_session_factory
from textbank.replies.handling import ReplyPolicy, policy_from_settings

T = TypeVar("T")
LEFTOVER_GRACE = 5.0  # seconds a finished job's leftover tasks get to end


@dataclass
class JobContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: redis.Redis
    redis_url: str
    replies_only: bool = False  # a worker on the replies queue alone (the Procfile's `replies`)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _channels: Channels | None = field(default=None, repr=False)

    @cached_property
    def reply_policy(self) -> ReplyPolicy:
        return policy_from_settings(self.settings)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a job's coroutine on this process's event loop, kept from job to job.

        uvloop: the send loop is all sockets, and uvloop runs them at a fraction of the
        CPU. Kept, so the connections opened on it (see channels) outlive one job. Whatever
        a job left running (an RQ timeout interrupts the loop mid-step) is cancelled
        before the next one starts.
        """
        loop = self._event_loop()
        try:
            return loop.run_until_complete(coro)
        finally:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            if left:
                # Bounded: a task inside a redis-py command can lose its cancel (see
                # textbank.blasts.periodic), and the next job must not wait on it forever.
                done, _ = loop.run_until_complete(asyncio.wait(left, timeout=LEFTOVER_GRACE))
                for task in done:  # retrieved, so none is logged as "never retrieved"
                    if not task.cancelled():
                        task.exception()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = uvloop.new_event_loop()
        return self._loop

    def channels(self) -> Channels:
        """The Twilio client and Redis clients senders share on this process's loop."""
        if self._channels is None:

            async def opened() -> Channels:  # connections belong to the loop they open on
                return Channels.open(self.settings, self.redis_url)

            self._channels = self._event_loop().run_until_complete(opened())
        return self._channels

    def close(self) -> None:
        """Close the kept connections and loop (a context replaced, a worker stopping)."""
        if self._loop is not None:
            if self._channels is not None:
                self._loop.run_until_complete(self._channels.aclose())
            self._loop.close()
        self._loop = self._channels = None
        self.engine.dispose()
        self.redis.close()


_context: JobContext | None = None


def _after_fork_in_child() -> None:
    # Any forked child (RQ's scheduler process, a forking worker class) must not reuse
    # the parent's database and Redis sockets.
    if _context is not None:
        _context.engine.dispose(close=False)
        _context.redis.connection_pool.reset()
        _context._loop = _context._channels = None  # the parent's; never closed from here


def setup(settings: Settings) -> JobContext:
    """Open the worker's engine and Redis client once per process."""
    global _context
    if _context is not None:
        _context.close()
    url = redis_conn.redis_url(settings)
    engine = make_engine(settings.database_url)
    _context = JobContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        redis=redis_conn.connect(settings),
        redis_url=url,
    )
    return _context


os.register_at_fork(after_in_child=_after_fork_in_child)


def get() -> JobContext:
    if _context is None:
        raise RuntimeError("job context not set up: jobs run inside `textbank worker`")
    return _context
