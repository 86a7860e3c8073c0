"""The README's first command: `textbank dev` brings up a working service on embedded defaults."""

import os
import signal
import subprocess
import sys
import time

import requests
from conftest import _free_port


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
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert not (tmp_path / "instance" / "redis" / "redis.sock").exists()  # embedded Redis stopped
