"""The Redis client, connected on first use rather than at start-up."""

from __future__ import annotations

import threading

import redis
from flask import Flask, current_app

from textbank import redis_conn
from textbank.config import Settings


class LazyRedis:
    """Connects (and starts the embedded server in dev) the first time it is asked."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()

    def get(self) -> redis.Redis:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = redis_conn.connect(self._settings)
        return self._client


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["textbank.redis"] = LazyRedis(settings)


def client() -> redis.Redis:
    return current_app.extensions["textbank.redis"].get()
