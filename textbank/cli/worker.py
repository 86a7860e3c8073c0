"""`textbank worker [--burst] [--queue NAME ...]`."""

from __future__ import annotations

import importlib

import click
from flask.cli import with_appcontext

from textbank.enqueue import ALL_QUEUES, QueueName
from textbank.web import settings

# Named, not imported at module level: textbank does not depend on workers/ (the jobs are
# named the same way, by dotted path, in textbank.enqueue).
WORKER_MODULE = "workers.worker"


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
@click.option(
    "--queue", "queues", multiple=True, type=click.Choice([q.value for q in ALL_QUEUES]),
    help="Work only this queue (repeat for several; default all). The Procfile's `replies` "
    "process works textbank-replies alone, so replies never wait behind sends.",
)  # fmt: skip
def worker_command(burst: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker on textbank's queues, highest priority first."""
    chosen = [QueueName(name) for name in ALL_QUEUES if name in queues] or list(ALL_QUEUES)
    importlib.import_module(WORKER_MODULE).run(settings(), burst=burst, queues=chosen)


def register(group: click.Group) -> None:
    group.add_command(worker_command)
