"""textbank's RQ queues, highest priority first (defined where jobs are enqueued)."""

from textbank.enqueue import ALL_QUEUES, QueueName, queue

__all__ = ["ALL_QUEUES", "QueueName", "queue"]
