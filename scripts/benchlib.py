"""Shared helpers for the benchmark scripts: a scratch PostgreSQL database and timing."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from textbank import schema
from textbank.config import normalize_database_url
from textbank.db import make_engine

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/textbank_bench"


def scratch_database(url: str | None = None):
    """An engine on an empty, migrated database (created if missing; wiped if present)."""
    url = normalize_database_url(url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            )
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    schema.upgrade(engine)
    return engine


@contextmanager
def stopwatch(results: dict, name: str):
    """Record the wall time of the block under `name`."""
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start
