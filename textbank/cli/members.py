"""`textbank members import FILE.csv [--json]`."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from textbank.db import session_scope
from textbank.members.importer import NotAMemberList, import_members
from textbank.web.database import session_factory


@click.group("members", cls=AppGroup)
def members_group() -> None:
    """Manage members."""


@members_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_command(path: str, as_json: bool) -> None:
    """Import or update members from a CSV file (upsert by phone)."""
    try:
        # Read a piece at a time (twice: once for the encoding), never whole.
        with open(path, "rb") as fh, session_scope(session_factory()) as session:
            result = import_members(session, fh)
    except NotAMemberList as exc:
        click.echo(f"error: {path} is not a member list: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(
        f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}, "
        f"merged duplicates {result.duplicates}, rejected {len(result.rejected)}"
    )
    for rejection in result.rejected:
        click.echo(f"  row {rejection.row}: {rejection.reason}")
    if result.ignored_columns:
        click.echo("ignored columns: " + ", ".join(result.ignored_columns))


def register(group: click.Group) -> None:
    group.add_command(members_group)
