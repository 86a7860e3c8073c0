"""`textbank db upgrade`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from textbank import schema
from textbank.web.database import engine


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Create or migrate the schema."""
    schema.upgrade(engine(), revision)
    click.echo(f"database at {revision}")


def register(group: click.Group) -> None:
    group.add_command(db_group)
