"""The live inbox over Redis: who is online, and pub/sub channels that feed the consoles."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import redis

log = logging.getLogger(__name__)

ONLINE_KEY = "textbank:console:online"  # user id -> last seen (epoch seconds)
ONLINE_FOR = 45  # seconds a console counts as online after its last sign of life
POOL_CHANNEL = "textbank:console:pool"  # conversations nobody holds


def user_channel(user_id: int) -> str:
    return f"textbank:console:user:{user_id}"


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


def publish(client: redis.Redis, volunteer_id: int | None, event: dict) -> None:
    """Tell the holder's consoles (or, for the pool, every console) about a conversation."""
    channel = user_channel(volunteer_id) if volunteer_id else POOL_CHANNEL
    try:
        client.publish(channel, json.dumps(event))
    except redis.RedisError as exc:
        # The reply is stored and in the inbox; a console that missed it sees it on reload.
        log.warning("conversation %s: not pushed live (%s)", event.get("conversation_id"), exc)
