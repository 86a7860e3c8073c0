"""Per-process resources for jobs, set up when the worker starts (never at import)."""

from __future__ import annotations

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


_context: JobContext | None = None


def setup(settings: Settings, connection: redis.Redis | None = None) -> JobContext:
    """Open the worker's engine and Redis client once per process."""
    global _context
    engine = make_engine(settings.database_url)
    _context = JobContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        redis=connection or redis_conn.connect(settings),
    )
    return _context


def get() -> JobContext:
    if _context is None:
        raise RuntimeError("job context not set up: jobs run inside `textbank worker`")
    return _context
