"""The Redis connection: REDIS_URL, or the embedded server in dev."""

from __future__ import annotations

import redis

from textbank import embedded_redis
from textbank.config import Settings


def redis_url(settings: Settings) -> str:
    """The configured Redis URL, starting the embedded server when none is set."""
    if settings.redis_url:
        return settings.redis_url
    return embedded_redis.ensure_running(settings.instance_path)


def connect(settings: Settings) -> redis.Redis:
    """A client for textbank's Redis (RQ needs raw bytes, so no decode_responses)."""
    return redis.Redis.from_url(
        redis_url(settings), socket_connect_timeout=5, socket_timeout=30, health_check_interval=30
    )
