"""The embedded Redis used by dev defaults is a real server, started once and shared."""

import redis

from textbank import embedded_redis


def test_started_on_demand_and_shared(tmp_path):
    url = embedded_redis.ensure_running(str(tmp_path))
    try:
        first = redis.Redis.from_url(url)
        first.set("shared", "yes")
        # A second process-level caller finds the same server rather than starting another.
        assert embedded_redis.ensure_running(str(tmp_path)) == url
        assert redis.Redis.from_url(url).get("shared") == b"yes"
    finally:
        embedded_redis.stop(str(tmp_path))
    assert not embedded_redis._answers(url)
