"""`textbank dev`: web, worker and embedded services on one machine."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from dataclasses import replace

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from werkzeug.serving import run_simple

from textbank import accounts, embedded_redis, schema
from textbank.campaigns.demo import DEMO_NAME, Timing, ensure_demo_campaign, timing
from textbank.db import session_scope
from textbank.members import demo
from textbank.members.importer import import_members
from textbank.models import Member, utcnow
from textbank.redis_conn import redis_url
from textbank.sandbox import SandboxConfig, SandboxServer
from textbank.web import settings
from textbank.web.database import engine, session_factory

DEMO_MANAGER = "manager@example.org"


def seed_demo(session) -> str | None:
    """Load demo members and a manager on first run; return the manager's new password."""
    password = None
    if not session.scalar(select(func.count()).select_from(Member)):
        import_members(session, demo.member_csv(300))
    if accounts.find_user(session, DEMO_MANAGER) is None:
        password = accounts.generate_password()
        accounts.create_user(session, DEMO_MANAGER, "manager", password)
    return password


def describe_timing(when: Timing, window) -> str:
    """When the demo's texts go: now, or when each member's quiet hours end."""
    if when.later == 0:
        return f"its {when.now} texts go out at once (it is {window} for every member now)"
    first = when.first_later.strftime("%Y-%m-%d %H:%M UTC") if when.first_later else "later"
    return (
        f"{when.now} texts go out at once; {when.later} wait for {window} in the member's own "
        f"time zone (the first from {first})"
    )


def is_loopback(host: str) -> bool:
    """True when only this machine can reach the address (localhost, 127.x, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker, kill) unwinds like Ctrl-C, so the children are stopped too.

    Python's default for SIGTERM ends the process at once, skipping every finally: the worker,
    its scheduler and the embedded Redis were left running.
    """

    def _raise(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _raise)


@click.command("dev")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def dev_command(host: str, port: int) -> None:
    """Run textbank on this machine: web app, worker, sandbox carrier, embedded Redis, SQLite."""
    cfg = settings()
    _stop_on_sigterm()
    base = f"http://{host}:{port}"
    if not is_loopback(host):
        click.echo(
            f"WARNING: textbank dev is listening on {host}, reachable from other machines, "
            "with development secrets, a demo manager and the sandbox carrier. Anyone who "
            "can reach it can sign in. Use --host 127.0.0.1 unless you mean it.",
            err=True,
        )
    env = dict(os.environ)
    env["REDIS_URL"] = redis_url(cfg)  # starts the embedded server; children share it
    env.setdefault("TEXTBANK_ENV", cfg.env)
    env["TEXTBANK_INSTANCE_PATH"] = current_app.instance_path
    env.setdefault("PUBLIC_BASE_URL", base)
    sandbox = None
    if not os.environ.get("TWILIO_ACCOUNT_SID"):
        # No Twilio account: the sandbox carrier plays Twilio, members' replies included.
        carrier = SandboxConfig(sms_url=f"{base}/twilio/sms", voice_url=f"{base}/twilio/voice")
        sandbox = SandboxServer(carrier).start()
        env["TWILIO_API_URL"] = sandbox.url
    current_app.extensions["textbank.settings"] = replace(
        cfg, public_base_url=env["PUBLIC_BASE_URL"].rstrip("/"),
        twilio_api_url=env.get("TWILIO_API_URL", cfg.twilio_api_url),
    )  # fmt: skip
    schema.upgrade(engine())
    with session_scope(session_factory()) as session:
        password = seed_demo(session)
        token = accounts.create_token(session, DEMO_MANAGER)
        campaign_id = ensure_demo_campaign(session).id
        when = timing(session, cfg.send_window, utcnow())
    children = [subprocess.Popen([sys.executable, "-m", "textbank.cli", "worker"], env=env)]
    click.echo(f"textbank is running at {base}  (health: {base}/healthz)")
    if sandbox is not None:
        reply = f'POST {sandbox.url}/sandbox/reply {{"from": "+1...", "body": "YES"}}'
        click.echo(f"sandbox carrier: {sandbox.url}  (play a member replying: {reply})")
    click.echo(f"database: {cfg.database_url}")
    click.echo(f"redis:    {env['REDIS_URL']}")
    if password:
        click.echo(f"manager sign-in: {DEMO_MANAGER} / {password}")
    click.echo(f"manager API token: {token}")
    click.echo(f'demo campaign {campaign_id} "{DEMO_NAME}" is ready to launch: '
               f"textbank campaigns launch {campaign_id}, or POST {base}/api/v1/campaigns/"
               f"{campaign_id}/launch")  # fmt: skip
    click.echo("  " + describe_timing(when, cfg.send_window))
    try:
        run_simple(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: a normal way to stop
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=10)
        if sandbox is not None:
            sandbox.stop()
        if not cfg.redis_url:
            embedded_redis.stop(current_app.instance_path)


def register(group: click.Group) -> None:
    group.add_command(dev_command)
