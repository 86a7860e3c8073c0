"""The worker entry point behind `textbank worker`."""

from __future__ import annotations

import logging
import time

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested

from textbank import heap
from textbank.config import Settings
from workers import context
from workers.jobs import sweep_campaigns
from workers.queues import ALL_QUEUES, queue

log = logging.getLogger(__name__)

SWEEP_LOCK = "textbank:sweep-lock"
SWEEP_INTERVAL = 15  # seconds


class TextbankWorker(SimpleWorker):
    """An RQ worker that runs jobs in-process and sweeps between them.

    In-process, not forked: a send job is a few seconds of network I/O, and a fork per
    job (re-importing the SDK, reconnecting to PostgreSQL and Redis) cost more CPU than
    the sends. Jobs are idempotent and the database is the record, so a worker that dies
    mid-job loses nothing: the sweeper reconciles what it held.
    """

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        # One sweeper at a time across all workers; the lock expires if its holder dies.
        if not self.connection.set(SWEEP_LOCK, self.name, nx=True, ex=SWEEP_INTERVAL):
            return
        try:
            report = sweep_campaigns()
        except Exception as exc:
            if self._shutdown_requested_date is not None:
                # SIGTERM landed mid-sweep: RQ's StopRequested, which the database driver
                # may have wrapped, still stops the worker (a deploy must not hang on it).
                raise StopRequested() from exc
            # The sweep runs again next interval; a worker must not die of a failed sweep.
            log.exception("sweep failed")
            return
        if any(report.values()):
            log.info("sweep: %s", report)


def run(settings: Settings, *, burst: bool = False) -> bool:
    """Work textbank's queues, highest priority first; return when burst work is done.

    RQ gives up when Redis goes away in the middle of a job; a restarted Redis has lost
    its queues anyway, so start a fresh worker and let the sweeper rebuild them.
    """
    logging.getLogger("twilio").setLevel(logging.WARNING)  # it logs every request at INFO
    ctx = context.setup(settings)
    heap.settle()
    delay = 1.0
    try:
        while True:
            queues = [queue(name, ctx.redis) for name in ALL_QUEUES]
            log.info("worker starting on %s (burst=%s)", ", ".join(q.name for q in queues), burst)
            worker = TextbankWorker(
                queues, connection=ctx.redis, maintenance_interval=SWEEP_INTERVAL, worker_ttl=35
            )
            try:
                return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
            except redis.ConnectionError as exc:
                log.error("lost Redis (%s); starting a new worker in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(30.0, delay * 2)
    finally:
        ctx.close()
