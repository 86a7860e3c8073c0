"""Database engine and sessions: one session per request and per job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import ARRAY, Connection, Engine, Table, any_, bindparam, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

# What domain functions run their statements on: a request's or job's Session, or a bare
# Connection where a hot path (the reply webhook) skips the ORM's unit of work.
Executor = Session | Connection


def make_engine(url: str, ping_idle_after: float = 1.0, **kwargs) -> Engine:
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
    options = {"pool_size": 10, "max_overflow": 20, **kwargs}
    engine = create_engine(url, connect_args={"prepare_threshold": None}, **options)
    _ping_when_idle(engine, ping_idle_after)
    return engine


def _ping_when_idle(engine: Engine, idle_after: float) -> None:
    """pool_pre_ping, for connections that sat idle in the pool only.

    A connection handed back a moment ago is as alive as a ping could tell, and pinging it
    anyway is one more round trip for every request; one idle for a while may have been cut
    (a database restart, a firewall), and a failed ping swaps it for a fresh one.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_after:
            return  # just connected, or just used
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("stale pooled connection") from exc  # the pool reconnects


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


def dialect_name(executor: Executor) -> str:
    if isinstance(executor, Connection):
        return executor.dialect.name
    return executor.get_bind().dialect.name


def upsert(dialect: str, table: Table):
    """INSERT with ON CONFLICT: PostgreSQL and SQLite spell it alike, but each has its own class."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def among(column, values, dialect: str):
    """`column IN (values)`; on PostgreSQL `column = ANY(:array)`, one parameter however
    many values, so the statement is the same text (and plan) for any list and the
    driver sends one array instead of a placeholder per value."""
    values = list(values)
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


@contextmanager
def planned_once(conn: Connection) -> Iterator[Connection]:
    """Let PostgreSQL plan each statement run here once per connection and reuse the plan.

    For hot paths of a few fixed point statements (the reply webhook), where planning costs
    the server more than running them. Only inside this block: the engine turns prepared
    statements off everywhere else (see make_engine). Needs PgBouncer 1.21 or later
    (max_prepared_statements) in transaction mode.
    """
    driver = conn.connection.driver_connection if conn.dialect.name == "postgresql" else None
    if driver is None:
        yield conn
        return
    driver.prepare_threshold = 0
    try:
        yield conn
    finally:
        driver.prepare_threshold = None


def autocommits(conn: Connection) -> bool:
    """Whether each statement on this connection commits as it completes.

    Asked of the driver: an engine made AUTOCOMMIT at connect time shows nothing in its
    execution options. SQLite's driver always looks so here, because textbank issues
    BEGIN itself (see make_engine), so it never counts.
    """
    if conn.dialect.name != "postgresql":
        return False
    driver = conn.connection.driver_connection
    return driver is not None and bool(driver.autocommit)


@contextmanager
def atomic(conn: Connection) -> Iterator[Connection]:
    """Several statements as one transaction, also on a connection that autocommits.

    Elsewhere the statements are already in the caller's transaction, which commits them.
    """
    if not autocommits(conn):
        yield conn
        return
    conn.commit()  # close SQLAlchemy's bookkeeping; each earlier statement committed itself
    conn.execution_options(isolation_level=conn.default_isolation_level)
    try:
        with conn.begin():
            yield conn
    finally:
        conn.execution_options(isolation_level="AUTOCOMMIT")
