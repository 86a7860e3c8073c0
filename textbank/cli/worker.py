"""`textbank worker [--burst]`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from textbank.web import settings
from workers import worker


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
def worker_command(burst: bool) -> None:
    """Run an RQ worker on all of textbank's queues."""
    worker.run(settings(), burst=burst)


def register(group: click.Group) -> None:
    group.add_command(worker_command)
