"""The worker entry point behind `textbank worker`."""

from __future__ import annotations

import logging

from rq import Worker

from textbank.config import Settings
from workers import context
from workers.queues import ALL_QUEUES, queue

log = logging.getLogger(__name__)


def run(settings: Settings, *, burst: bool = False) -> bool:
    """Work textbank's queues, highest priority first; return when burst work is done."""
    ctx = context.setup(settings)
    queues = [queue(name, ctx.redis) for name in ALL_QUEUES]
    log.info("worker starting on %s (burst=%s)", ", ".join(q.name for q in queues), burst)
    worker = Worker(queues, connection=ctx.redis)
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
