"""`textbank worker [--burst]`."""

from __future__ import annotations

import importlib

import click
from flask.cli import with_appcontext

from textbank.web import settings

# Named, not imported at module level: textbank does not depend on workers/ (the jobs are
# named the same way, by dotted path, in textbank.enqueue).
WORKER_MODULE = "workers.worker"


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
def worker_command(burst: bool) -> None:
    """Run an RQ worker on all of textbank's queues."""
    importlib.import_module(WORKER_MODULE).run(settings(), burst=burst)


def register(group: click.Group) -> None:
    group.add_command(worker_command)
