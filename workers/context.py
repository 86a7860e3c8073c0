"""Per-process resources for jobs, set up when the worker starts (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from textbank import redis_conn
from textbank.config import Settings
from textbank.db import make_engine, make_session_factory


@dataclass
class JobContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: redis.Redis
    redis_url: str


_context: JobContext | None = None


def _after_fork_in_child() -> None:
    # Any forked child (RQ's scheduler process, a forking worker class) must not reuse
    # the parent's database and Redis sockets.
    if _context is not None:
        _context.engine.dispose(close=False)
        _context.redis.connection_pool.reset()


def setup(settings: Settings) -> JobContext:
    """Open the worker's engine and Redis client once per process."""
    global _context
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
