"""The `textbank` command: a Flask CLI group bound to the app factory."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup


def _make_app(*_args, **_kwargs) -> Flask:
    from textbank import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_make_app, add_version_option=False)
def main() -> None:
    """textbank: text-banking for labor unions."""


def init_app(app: Flask) -> None:
    """Attach textbank's commands to the app, where both `textbank` and tests find them."""
    from textbank.cli import accounts, campaigns, db, dev, members, report, sandbox, worker

    for module in (accounts, campaigns, db, dev, members, report, sandbox, worker):
        module.register(app.cli)
