"""The worker entry point behind `textbank worker`."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta

import redis
from rq import SimpleWorker

from textbank import enqueue, heap
from textbank.config import Settings
from textbank.enqueue import ALL_QUEUES, QueueName, queue
from workers import context

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 15  # seconds


class TextbankWorker(SimpleWorker):
    """An RQ worker that runs jobs in-process and keeps a sweep queued.

    In-process, not forked: a send job is a few seconds of network I/O, and a fork per
    job (re-importing the SDK, reconnecting to PostgreSQL and Redis) cost more CPU than
    the sends. Jobs are idempotent and the database is the record, so a worker that dies
    mid-job loses nothing: the sweeper reconciles what it held.
    """

    replies_only = False  # on the replies queue alone: says so in Redis (enqueue.replies)

    def run_maintenance_tasks(self) -> None:
        # RQ's hook for periodic work, run every maintenance_interval between jobs. It only
        # queues the sweep (at most one per interval across all workers); the sweep runs as
        # an ordinary job, so RQ's own timeout, shutdown and failure handling apply to it.
        super().run_maintenance_tasks()
        try:
            enqueue.sweep(self.connection, timedelta(seconds=SWEEP_INTERVAL))
            if self.replies_only:
                enqueue.replies_worker_alive(self.connection)
        except redis.RedisError as exc:
            log.warning("could not queue a sweep: %s", exc)


def run(
    settings: Settings, *, burst: bool = False, queues: Sequence[QueueName] = ALL_QUEUES
) -> bool:
    """Work textbank's queues (all, or those named), highest priority first; return when
    burst work is done.

    RQ gives up when Redis goes away in the middle of a job; a restarted Redis has lost
    its queues anyway, so start a fresh worker and let the sweeper rebuild them.
    """
    logging.getLogger("twilio").setLevel(logging.WARNING)  # it logs every request at INFO
    ctx = context.setup(settings)
    ctx.replies_only = list(queues) == [QueueName.REPLIES]
    heap.settle()
    delay = 1.0
    try:
        while True:
            listened = [queue(name, ctx.redis) for name in queues]
            log.info("worker starting on %s (burst=%s)", ", ".join(q.name for q in listened),
                     burst)  # fmt: skip
            worker = TextbankWorker(
                listened, connection=ctx.redis, maintenance_interval=SWEEP_INTERVAL, worker_ttl=35
            )
            worker.replies_only = ctx.replies_only
            try:
                return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
            except redis.ConnectionError as exc:
                log.error("lost Redis (%s); starting a new worker in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(30.0, delay * 2)
    finally:
        ctx.close()
