"""`textbank users create|reset-password` and `textbank tokens create|revoke`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from textbank import accounts, people
from textbank.db import session_scope
from textbank.web.database import session_factory


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Manage people who sign in."""


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "manager", "volunteer"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(email: str, role: str, password_stdin: bool) -> None:
    """Add a user; without --password-stdin a password is generated and printed."""
    generated = not password_stdin
    password = accounts.generate_password() if generated else sys.stdin.readline().rstrip("\r\n")
    try:
        with session_scope(session_factory()) as session:
            user = accounts.create_user(session, email, role, password)
            click.echo(f"created {user.role} {user.email}")
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    if generated:
        click.echo(f"password: {password}")


@users_group.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def reset_password(email: str, password_stdin: bool) -> None:
    """Give a user a new password and sign them out everywhere; without --password-stdin one is
    generated and printed."""
    generated = not password_stdin
    password = accounts.generate_password() if generated else sys.stdin.readline().rstrip("\r\n")
    try:
        with session_scope(session_factory()) as session:
            user = people.reset_password(session, email, password)
            click.echo(f"new password set for {user.email}; their sessions are ended")
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    if generated:
        click.echo(f"password: {password}")


@click.group("tokens", cls=AppGroup)
def tokens_group() -> None:
    """Manage API tokens."""


@tokens_group.command("create")
@click.argument("email")
def create_token(email: str) -> None:
    """Issue an API token; it is printed once, alone on the last line."""
    try:
        with session_scope(session_factory()) as session:
            token = accounts.create_token(session, email)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token for {email.strip().lower()} (shown once; store it now):", err=True)
    click.echo(token)


@tokens_group.command("revoke")
@click.argument("email")
def revoke_tokens(email: str) -> None:
    """Revoke every token a user holds."""
    try:
        with session_scope(session_factory()) as session:
            count = accounts.revoke_tokens(session, email)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {count} token(s)")


def register(group: click.Group) -> None:
    group.add_command(users_group)
    group.add_command(tokens_group)
