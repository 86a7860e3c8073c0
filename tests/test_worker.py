"""The worker's own loop: sweeping between jobs, and stopping when told to."""

from __future__ import annotations

import signal

import pytest
from rq.exceptions import StopRequested
from sqlalchemy.exc import StatementError

from workers import worker as worker_module
from workers.queues import ALL_QUEUES, queue


def _worker(redis_client) -> worker_module.TextbankWorker:
    return worker_module.TextbankWorker(
        [queue(name, redis_client) for name in ALL_QUEUES], connection=redis_client
    )


def test_sigterm_during_a_sweep_still_stops_the_worker(redis_client, monkeypatch):
    """RQ raises StopRequested from the signal handler wherever the worker is; inside a
    sweep's query the driver wraps it, and the sweep's own error handling must not eat it."""
    worker = _worker(redis_client)

    def sweep_interrupted():
        try:
            worker.request_stop(signal.SIGTERM, None)  # what the signal handler does
        except StopRequested as exc:
            raise StatementError("SELECT 1", None, {}, exc) from exc

    monkeypatch.setattr(worker_module, "sweep_campaigns", sweep_interrupted)
    try:
        with pytest.raises(StopRequested):
            worker.run_maintenance_tasks()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_a_failed_sweep_is_logged_and_the_worker_goes_on(redis_client, monkeypatch, caplog):
    def sweep_broken():
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(worker_module, "sweep_campaigns", sweep_broken)
    _worker(redis_client).run_maintenance_tasks()
    assert "sweep failed" in caplog.text
