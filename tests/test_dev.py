"""The README's first command: `textbank dev` brings up a working service on embedded defaults."""

import os
import signal
import subprocess
import sys
import time

import requests
from conftest import _free_port


def _descendants(pid: int) -> set[int]:
    """Every process below pid, from /proc (children of children included)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - the point of the test


def test_textbank_dev_on_all_interfaces_warns_and_sigterm_stops_everything(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "TEXTBANK_ENV", "TWILIO_ACCOUNT_SID")
    }
    env["TEXTBANK_INSTANCE_PATH"] = str(tmp_path / "instance")
    proc = subprocess.Popen(
        [sys.executable, "-m", "textbank.cli", "dev", "--host", ALL_INTERFACES,
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        while not any(line.startswith("manager API token:") for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert any("WARNING" in line and ALL_INTERFACES in line for line in lines), lines
        redis_pid = int((tmp_path / "instance" / "redis" / "redis.pid").read_text())
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # the worker is up when its scheduler has started too
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        for _ in range(100):
            children = _descendants(proc.pid)
            if len(children) >= 2:  # the worker and its scheduler
                break
            time.sleep(0.1)
        assert children and _alive(redis_pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    for _ in range(100):
        if not any(_alive(pid) for pid in (*children, redis_pid)):
            break
        time.sleep(0.1)
    assert [pid for pid in children if _alive(pid)] == []
    assert not _alive(redis_pid)


def test_textbank_dev_serves_demo_data_with_a_manager_token(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "TEXTBANK_ENV", "TWILIO_ACCOUNT_SID")
    }
    env["TEXTBANK_INSTANCE_PATH"] = str(tmp_path / "instance")
    proc = subprocess.Popen(
        [sys.executable, "-m", "textbank.cli", "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    token, lines = None, []
    try:
        deadline = time.monotonic() + 60
        demo_id, timing = None, None
        while timing is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("manager API token:"):
                token = line.split()[-1]
            if line.startswith("demo campaign "):
                demo_id = int(line.split()[2])
            elif demo_id is not None:
                timing = line
        assert token and demo_id, "".join(lines)
        # It says when the texts go: now, or when quiet hours end in the members' zones.
        assert "go out at once" in timing, timing
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                health = requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        members = requests.get(
            f"{base}/api/v1/members?limit=1000",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()
        assert len(members["members"]) == 300
        assert any(m["leader"] for m in members["members"])
        demo = requests.get(
            f"{base}/api/v1/campaigns/{demo_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()
        assert demo["status"] == "draft" and "{local}" in demo["message"]
        assert any("sandbox carrier" in line for line in lines)
        assert not any("WARNING" in line for line in lines)  # loopback: nothing to warn of
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert not (tmp_path / "instance" / "redis" / "redis.sock").exists()  # embedded Redis stopped
