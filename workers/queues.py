"""textbank's RQ queues, named for the work they carry, highest priority first."""

from __future__ import annotations

from enum import StrEnum

import redis
from rq import Queue


class QueueName(StrEnum):
    LAUNCH = "textbank-launch"  # snapshot audiences, fan out batches
    SEND = "textbank-send"  # batches of outbound messages
    DEFAULT = "textbank-default"  # reconciliation, digests, housekeeping


ALL_QUEUES = (QueueName.LAUNCH, QueueName.SEND, QueueName.DEFAULT)


def queue(name: QueueName, connection: redis.Redis) -> Queue:
    return Queue(name.value, connection=connection)
