"""Database engine and sessions: one session per request and per job."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine tuned for the backend behind `url`."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the web process read while a worker writes; FKs are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # We issue BEGIN ourselves (below), not the sqlite3 module.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            # A deferred transaction that reads and then writes fails at once with
            # "database is locked" when another process wrote in between (a worker and the
            # web app's status callbacks); taking the write lock up front makes it wait.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No server-side prepared statements: after five runs psycopg would switch to a generic
    # plan, and a generic plan of `phone IN (5,000 params)` scans the table once per value.
    # It also keeps textbank usable behind PgBouncer in transaction mode.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"prepare_threshold": None},
        **kwargs,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A short transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
