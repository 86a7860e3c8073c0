"""The worker's own loop: a sweep kept queued as an ordinary job, and stopping when told to."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from rq.job import Job
from rq.registry import FailedJobRegistry

import workers.jobs
from textbank import enqueue
from textbank.enqueue import ALL_QUEUES, SWEEP_ID, QueueName, queue
from workers import worker as worker_module


def _worker(redis_client) -> worker_module.TextbankWorker:
    return worker_module.TextbankWorker(
        [queue(name, redis_client) for name in ALL_QUEUES], connection=redis_client
    )


def test_workers_queue_one_sweep_between_them(redis_client):
    first, second = _worker(redis_client), _worker(redis_client)
    first.run_maintenance_tasks()
    second.run_maintenance_tasks()
    first.run_maintenance_tasks()
    default = queue(QueueName.DEFAULT, redis_client)
    assert default.job_ids == [SWEEP_ID]
    assert Job.fetch(SWEEP_ID, connection=redis_client).func_name == "workers.jobs.sweep_campaigns"


def test_a_failed_sweep_is_kept_by_rq_and_the_worker_goes_on(redis_client, monkeypatch):
    def sweep_broken():
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(workers.jobs, "sweep_campaigns", sweep_broken)
    worker = _worker(redis_client)
    worker.run_maintenance_tasks()
    queue(QueueName.DEFAULT, redis_client).enqueue("builtins.len", "after", job_id="next-job")
    assert worker.work(burst=True) is True
    failed = FailedJobRegistry(queue=queue(QueueName.DEFAULT, redis_client))
    assert failed.get_job_ids() == [SWEEP_ID]
    result = Job.fetch(SWEEP_ID, connection=redis_client).latest_result()
    assert "database hiccup" in result.exc_string
    assert Job.fetch("next-job", connection=redis_client).return_value() == 5


def test_sigterm_during_a_sweep_lets_it_finish_then_stops_the_worker(redis_client, monkeypatch):
    """A deploy's SIGTERM lands mid-sweep: RQ's warm shutdown ends the job, then the worker."""
    worker = _worker(redis_client)
    swept = []

    def sweep_interrupted():
        worker.request_stop(signal.SIGTERM, None)  # what RQ's signal handler does
        swept.append(True)
        return {}

    monkeypatch.setattr(workers.jobs, "sweep_campaigns", sweep_interrupted)
    worker.run_maintenance_tasks()
    queue(QueueName.DEFAULT, redis_client).enqueue("builtins.len", "no", job_id="left-queued")
    try:
        worker.work(burst=False)  # returns only because the stop was honoured
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert swept == [True]
    assert Job.fetch(SWEEP_ID, connection=redis_client).get_status() == "finished"
    assert queue(QueueName.DEFAULT, redis_client).job_ids == ["left-queued"]


def test_a_replies_worker_works_its_queue_alone(app, settings, redis_client):
    """The Procfile's `replies` process: replies never wait behind send jobs."""
    from textbank.cli.worker import worker_command

    queue(QueueName.SEND, redis_client).enqueue("builtins.len", "send", job_id="a-send")
    queue(QueueName.REPLIES, redis_client).enqueue("builtins.len", "reply", job_id="a-reply")
    procfile = (Path(__file__).parent.parent / "Procfile").read_text()
    line = next(p for p in procfile.splitlines() if p.startswith("replies:"))
    args = line.split(":", 1)[1].split()
    assert args[:2] == ["textbank", "worker"]
    result = app.test_cli_runner().invoke(worker_command, [*args[2:], "--burst"])
    assert result.exit_code == 0, result.output
    assert Job.fetch("a-reply", connection=redis_client).get_status() == "finished"
    assert queue(QueueName.SEND, redis_client).job_ids == ["a-send"]  # left to `worker`


def test_the_worker_refuses_a_queue_it_does_not_know(app):
    from textbank.cli.worker import worker_command

    result = app.test_cli_runner().invoke(worker_command, ["--queue", "textbank-nope"])
    assert result.exit_code == 2 and "textbank-replies" in result.output


def test_one_drainer_is_queued_while_a_replies_worker_runs(redis_client):
    """Two drainers share a burst between general workers; beside a replies worker, whose
    drainer waits for the next reply, a second one (ending at once on a general worker)
    cleared the mark while the first waited, and each later reply queued two more."""
    replies = queue(QueueName.REPLIES, redis_client)
    enqueue.replies(redis_client, [1])
    assert replies.count == enqueue.DRAINERS == 2
    redis_client.delete(enqueue.REPLY_DRAINING)
    replies.empty()
    worker = _worker(redis_client)
    worker.replies_only = True
    worker.run_maintenance_tasks()  # a replies worker says it is alive
    enqueue.replies(redis_client, [2])
    enqueue.replies(redis_client, [3])  # the mark is set: nothing more is queued
    assert replies.count == 1


def _blocked_on_blpop(redis_client) -> bool:
    return any(c.get("cmd") == "blpop" for c in redis_client.client_list())


def test_a_waiting_drainer_takes_the_next_reply_and_keeps_the_mark(redis_client):
    enqueue.replies(redis_client, [1])
    assert enqueue.next_replies(redis_client, 20, wait=30) == [1]
    got: list[list[int]] = []
    waiting = threading.Thread(
        target=lambda: got.append(enqueue.next_replies(redis_client, 20, wait=30))
    )
    waiting.start()
    deadline = time.monotonic() + 30
    while not _blocked_on_blpop(redis_client):  # the drainer waits for the next reply
        assert time.monotonic() < deadline, "the drainer never waited"
        time.sleep(0.01)
    enqueue.replies(redis_client, [2, 3])
    waiting.join(timeout=30)
    assert got == [[2, 3]]
    assert redis_client.exists(enqueue.REPLY_DRAINING)  # no new drainer was queued for them
    assert queue(QueueName.REPLIES, redis_client).count == enqueue.DRAINERS  # the first pair
    # Nothing more within the wait: the drainer ends and clears the mark for the next one.
    assert enqueue.next_replies(redis_client, 20, wait=0.05) == []
    assert not redis_client.exists(enqueue.REPLY_DRAINING)
