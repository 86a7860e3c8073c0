"""One SQLAlchemy session per request, closed when the request ends."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from textbank.config import Settings
from textbank.db import make_engine, make_session_factory


def init_app(app: Flask, settings: Settings) -> None:
    engine = make_engine(settings.database_url)  # lazy: connects on first use
    app.extensions["textbank.engine"] = engine
    # The reply webhook's statements commit as they complete: most replies are a statement
    # to store and one to act, and BEGIN/COMMIT would double their round trips. Its own
    # pool, autocommit from the connection's start: switching a shared pool's connection
    # there and back on every checkout cost as much as a quarter of a statement. SQLite
    # keeps its transactions (they take its write lock up front).
    app.extensions["textbank.autocommit_engine"] = (
        make_engine(settings.database_url, isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql"
        else engine
    )
    app.extensions["textbank.sessions"] = make_session_factory(engine)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["textbank.engine"]


def autocommit_engine() -> Engine:
    return current_app.extensions["textbank.autocommit_engine"]


def dispose(app: Flask) -> None:
    """Close every pooled connection the app holds (tests, and after a fork)."""
    app.extensions["textbank.engine"].dispose()
    app.extensions["textbank.autocommit_engine"].dispose()


def session_factory() -> sessionmaker[Session]:
    return current_app.extensions["textbank.sessions"]


def db() -> Session:
    """This request's session."""
    if "db_session" not in g:
        g.db_session = session_factory()()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()  # anything not committed explicitly is not kept
        session.close()
