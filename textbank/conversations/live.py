"""The live inbox over Redis: who is online, and pub/sub channels that feed the consoles."""

from __future__ import annotations

import logging
from datetime import datetime

import redis

log = logging.getLogger(__name__)

ONLINE_KEY = "textbank:console:online"  # user id -> last seen (epoch seconds)
ONLINE_FOR = 45  # seconds a console counts as online after its last sign of life
POOL_CHANNEL = "textbank:console:pool"  # conversations nobody holds that volunteers may take
MANAGERS_CHANNEL = "textbank:console:managers"  # every conversation: managers see them all


def user_channel(user_id: int) -> str:
    return f"textbank:console:user:{user_id}"


def scoped(client: redis.Redis, channel: str) -> str:
    """The channel as published and subscribed on this client's database: pub/sub ignores
    the database number, and two textbanks sharing a Redis server (or a test beside a
    benchmark) must not hear each other's members."""
    return f"{channel}@{client.connection_pool.connection_kwargs.get('db', 0)}"


def seen(client: redis.Redis, user_id: int, now: datetime) -> None:
    """A console of this user is open (its event stream or any of its requests)."""
    client.zadd(ONLINE_KEY, {str(user_id): now.timestamp()})


def gone(client: redis.Redis, user_id: int) -> None:
    client.zrem(ONLINE_KEY, str(user_id))


def is_online(client: redis.Redis, user_id: int, now: datetime) -> bool:
    score = client.zscore(ONLINE_KEY, str(user_id))
    return score is not None and score >= now.timestamp() - ONLINE_FOR


def online_users(client: redis.Redis, now: datetime) -> dict[int, float]:
    """Users with a console open now, and when each was last seen."""
    cutoff = now.timestamp() - ONLINE_FOR
    client.zremrangebyscore(ONLINE_KEY, "-inf", cutoff - 24 * 3600)
    found: list[tuple[bytes, float]] = client.zrangebyscore(  # type: ignore[assignment]
        ONLINE_KEY, cutoff, "+inf", withscores=True
    )
    return {int(member): float(score) for member, score in found}
