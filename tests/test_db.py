"""The engine's pool: a connection cut while it sat idle is replaced, not handed out."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from textbank.db import make_engine

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_connection_cut_while_idle_is_replaced(database_url):
    engine = make_engine(database_url, ping_idle_after=0.2, pool_size=1)
    try:
        with engine.connect() as conn:
            first_pid = conn.scalar(text("SELECT pg_backend_pid()"))
        # The database drops it (a restart, a failover, an idle timeout) while it is pooled.
        with make_engine(database_url).connect() as admin:
            assert admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        time.sleep(0.3)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT 1")) == 1
            assert conn.scalar(text("SELECT pg_backend_pid()")) != first_pid
    finally:
        engine.dispose()


def test_connection_in_steady_use_is_not_pinged(database_url, monkeypatch):
    engine = make_engine(database_url, ping_idle_after=0.2, pool_size=1)
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    try:
        for _ in range(5):  # back-to-back requests: no round trip spent on asking
            with engine.connect() as conn:
                conn.scalar(text("SELECT 1"))
        assert pings == []
        time.sleep(0.3)
        with engine.connect() as conn:  # after a pause it is asked first
            conn.scalar(text("SELECT 1"))
        assert len(pings) == 1
    finally:
        engine.dispose()
