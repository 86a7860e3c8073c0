"""enqueue.released, called on every volunteer's Send: one Redis round trip decides it."""

from __future__ import annotations

import pytest
import redis
from conftest import REDIS_URL
from redis.client import Pipeline
from rq.job import Job, JobStatus

from textbank import enqueue
from textbank.blasts.sender import alive_key
from textbank.enqueue import QueueName, bucket_job_id, queue

CAMPAIGN = 7


@pytest.fixture
def connection():
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def trips(monkeypatch) -> list:
    """Every round trip to Redis: a command alone, or a pipeline's batch of them."""
    seen: list = []
    command, execute = redis.Redis.execute_command, Pipeline.execute

    def one(self, *args, **kwargs):
        if not isinstance(self, Pipeline):
            seen.append(args[0])
        return command(self, *args, **kwargs)

    def batch(self, *args, **kwargs):
        if self.command_stack:
            seen.append(tuple(c[0][0] for c in self.command_stack))
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", one)
    monkeypatch.setattr(Pipeline, "execute", batch)
    return seen


def _queued(connection) -> list[str]:
    return queue(QueueName.SEND, connection).get_job_ids()


def _set_status(connection, job_id: str, status: JobStatus) -> None:
    job = Job.fetch(job_id, connection=connection)
    job.set_status(status)


def test_a_press_while_the_buckets_job_waits_is_one_round_trip_writing_nothing(connection, trips):
    enqueue.released(connection, CAMPAIGN, [1001])
    assert _queued(connection) == [bucket_job_id(CAMPAIGN, 1)]
    trips.clear()
    enqueue.released(connection, CAMPAIGN, [1002, 1003])
    assert trips == [("HGET", "HGET", "EXISTS")]  # one read, nothing written
    assert _queued(connection) == [bucket_job_id(CAMPAIGN, 1)]


def test_a_press_with_no_job_queues_one_and_one_per_bucket(connection, trips):
    enqueue.released(connection, CAMPAIGN, [5, 1001, 1002])
    reads = trips[0]
    assert reads == ("HGET", "HGET", "EXISTS") * 2
    assert sorted(_queued(connection)) == [bucket_job_id(CAMPAIGN, 0), bucket_job_id(CAMPAIGN, 1)]
    job = Job.fetch(bucket_job_id(CAMPAIGN, 1), connection=connection)
    assert job.func_name == "workers.jobs.send_bucket" and job.args == (CAMPAIGN, 1)
    assert job.kwargs == {"gather": enqueue.GATHER_SECONDS}


def test_a_press_while_the_job_runs_queues_one_follow_up_only(connection):
    enqueue.released(connection, CAMPAIGN, [1001])
    first = bucket_job_id(CAMPAIGN, 1)
    connection.lpop(f"rq:queue:{QueueName.SEND.value}")  # a worker took it
    _set_status(connection, first, JobStatus.STARTED)
    connection.set(alive_key(CAMPAIGN, 1), 1)
    enqueue.released(connection, CAMPAIGN, [1002])
    assert _queued(connection) == [f"{first}-more"]
    enqueue.released(connection, CAMPAIGN, [1003])  # the follow-up already waits
    assert _queued(connection) == [f"{first}-more"]


def test_a_job_left_started_by_a_dead_worker_is_queued_again(connection):
    enqueue.released(connection, CAMPAIGN, [1001])
    first = bucket_job_id(CAMPAIGN, 1)
    connection.lpop(f"rq:queue:{QueueName.SEND.value}")
    _set_status(connection, first, JobStatus.STARTED)  # no heartbeat: its worker died
    enqueue.released(connection, CAMPAIGN, [1002])
    assert _queued(connection) == [first]


def test_a_finished_job_is_queued_again(connection):
    enqueue.released(connection, CAMPAIGN, [1001])
    first = bucket_job_id(CAMPAIGN, 1)
    connection.lpop(f"rq:queue:{QueueName.SEND.value}")
    _set_status(connection, first, JobStatus.FINISHED)
    enqueue.released(connection, CAMPAIGN, [1002])
    assert _queued(connection) == [first]
