"""Fixtures: the app on real PostgreSQL and SQLite, a real Redis, a client and a CLI runner."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
import redis
from sqlalchemy import inspect, text

from textbank import create_app, schema
from textbank.accounts import create_token, create_user
from textbank.compliance.quiet_hours import SendWindow
from textbank.config import Settings
from textbank.db import make_engine, session_scope
from textbank.models import Base
from textbank.web import database

POSTGRES_URL = os.environ.get(
    "TEXTBANK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEXTBANK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASES = os.environ.get("TEXTBANK_TEST_DATABASES", "postgresql,sqlite").split(",")


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request, tmp_path_factory) -> str:
    """A migrated, empty database of each kind; the schema comes from the real migrations."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/textbank.sqlite3"
    else:
        url = POSTGRES_URL
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    schema.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings.from_env(
        {"TEXTBANK_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL},
        instance_path=str(tmp_path / "instance"),
    )


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def _empty_tables(engine) -> None:
    names = [t.name for t in reversed(Base.metadata.sorted_tables)]
    present = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                if name in present:
                    conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - our own table names


@pytest.fixture
def app(settings, redis_client):
    app = create_app(settings)
    app.config.update(TESTING=True)
    _empty_tables(app.extensions["textbank.engine"])
    yield app
    database.dispose(app)


@pytest.fixture
def console(settings, redis_client):
    """The app with the send window open all day: console tests must not depend on the clock."""
    app = create_app(replace(settings, send_window=SendWindow(0, 24 * 60)))
    app.config.update(TESTING=True)
    _empty_tables(app.extensions["textbank.engine"])
    yield app
    database.dispose(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def sessions(app):
    """The app's session factory, for arranging and checking data directly."""
    return app.extensions["textbank.sessions"]


def _token_for(sessions, email: str, role: str) -> str:
    with session_scope(sessions) as session:
        create_user(session, email, role, "correct horse battery")
        return create_token(session, email)


@pytest.fixture
def manager_token(sessions) -> str:
    return _token_for(sessions, "manager@example.org", "manager")


@pytest.fixture
def volunteer_token(sessions) -> str:
    return _token_for(sessions, "volunteer@example.org", "volunteer")


@pytest.fixture
def auth(manager_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {manager_token}"}


@pytest.fixture
def sandbox():
    """The sandbox carrier on a free port, posting callbacks within milliseconds."""
    from textbank.sandbox import SandboxConfig, SandboxServer

    server = SandboxServer(SandboxConfig(callback_delay_ms=5, gather_wait_seconds=3)).start()
    yield server
    server.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(settings, sandbox, redis_client):
    """The app served over HTTP (for Twilio's callbacks) and wired to the sandbox carrier.

    Yields a namespace with the app, its URL, the settings it runs with and the sandbox.
    """
    import threading
    from dataclasses import replace
    from types import SimpleNamespace

    from werkzeug.serving import make_server

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    live_settings = replace(
        settings,
        twilio_api_url=sandbox.url,
        public_base_url=base,
        send_rate=500.0,
        send_window=replace(settings.send_window, start_minute=0, end_minute=1440),
    )
    app = create_app(live_settings)
    _empty_tables(app.extensions["textbank.engine"])
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox.configure(sms_url=f"{base}/twilio/sms")
    yield SimpleNamespace(
        app=app, url=base, settings=live_settings, sandbox=sandbox,
        sessions=app.extensions["textbank.sessions"], client=app.test_client(),
    )  # fmt: skip
    # The carrier first, so no callback is still arriving; then the server, waiting for the
    # requests it is serving. A callback handled after this test would land in the next
    # test's rows (SQLite reuses row ids), as a late "delivered" for a row not yet sent.
    sandbox.stop()
    server.shutdown()
    server.server_close()  # joins the request threads still running
    thread.join(timeout=5)
    database.dispose(app)
