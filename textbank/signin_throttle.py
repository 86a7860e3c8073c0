"""Failed sign-ins counted in Redis, per account and per address, over a sliding window.

A guesser gets a few tries per account and a few more per address, then waits. The count
is kept for any email typed, with an account or not, so the answer never tells which
emails exist. Each failure ages out on its own after WINDOW (a sliding window, not a
fixed one that resets all at once), so a locked account opens again one try at a time.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from dataclasses import dataclass

import redis

WINDOW = 15 * 60  # seconds
PER_ACCOUNT = 5  # failures per email in WINDOW
PER_ADDRESS = 20  # failures per client address in WINDOW (a shared office NAT has room)


@dataclass(frozen=True)
class Limit:
    name: str
    key: str
    allowed: int


def _limits(email: str, address: str) -> tuple[Limit, Limit]:
    # Hashed, so Redis holds no list of the emails people typed.
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return (
        Limit("account", f"textbank:signin:account:{account}", PER_ACCOUNT),
        Limit("address", f"textbank:signin:address:{address}", PER_ADDRESS),
    )


def _trim(pipe, key: str, now: float) -> None:
    pipe.zremrangebyscore(key, "-inf", now - WINDOW)


def wait_seconds(client: redis.Redis, email: str, address: str, now: float | None = None) -> int:
    """Seconds until another try is allowed for this email from this address; 0 if now."""
    now = time.time() if now is None else now
    limits = _limits(email, address)
    pipe = client.pipeline(transaction=False)
    for limit in limits:
        _trim(pipe, limit.key, now)
        # The failure that has to age out before one more try is allowed.
        pipe.zrange(limit.key, -limit.allowed, -limit.allowed, withscores=True)
        pipe.zcard(limit.key)
    results = pipe.execute()
    wait = 0.0
    for i, limit in enumerate(limits):
        oldest, count = results[3 * i + 1], results[3 * i + 2]
        if count >= limit.allowed and oldest:
            wait = max(wait, oldest[0][1] + WINDOW - now)
    return math.ceil(wait) if wait > 0 else 0


def record_failure(client: redis.Redis, email: str, address: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    pipe = client.pipeline(transaction=False)
    for limit in _limits(email, address):
        pipe.zadd(limit.key, {uuid.uuid4().hex: now})
        _trim(pipe, limit.key, now)
        pipe.expire(limit.key, WINDOW)
    pipe.execute()


def record_success(client: redis.Redis, email: str, address: str) -> None:
    """The account's own count starts again; the address's does not (one good password
    of the guesser's own must not buy more guesses at everyone else's)."""
    account, _ = _limits(email, address)
    client.delete(account.key)


def message(wait: int) -> str:
    minutes = max(1, math.ceil(wait / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many attempts; try again in {minutes} {unit}."
