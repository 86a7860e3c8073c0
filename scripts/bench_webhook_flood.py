"""CPU time and peak memory of an oversized unsigned body to /twilio/sms, beside a real reply.

Usage: python scripts/bench_webhook_flood.py [--fields 3000000]
Each case runs in a fresh process on a scratch SQLite database (the flood never reaches the
database). Run it with PYTHONPATH pointing at an older checkout to measure that code instead.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time


def _request(app, body: bytes, signature: str) -> int:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(
        path="/twilio/sms", method="POST", input_stream=io.BytesIO(body),
        content_type="application/x-www-form-urlencoded", content_length=len(body),
        headers={"X-Twilio-Signature": signature},
    ).get_environ()  # fmt: skip
    status: list[str] = []
    chunks = app(environ, lambda s, h, exc_info=None: status.append(s))
    b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0])


def run_case(case: str, fields: int) -> dict:
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    from textbank import create_app, schema
    from textbank.config import Settings

    instance = tempfile.mkdtemp()
    settings = Settings.from_env(
        {"TEXTBANK_ENV": "test", "DATABASE_URL": f"sqlite:///{instance}/bench.db",
         "REDIS_URL": "redis://127.0.0.1:6379/13"}, instance,
    )  # fmt: skip
    app = create_app(settings)
    schema.upgrade(app.extensions["textbank.engine"])
    params = {"MessageSid": "SM" + "1" * 32, "From": "+16175550101", "To": "+15005550006",
              "Body": "When is the meeting?", "AccountSid": "AC" + "0" * 32}  # fmt: skip
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(
        settings.public_base_url + "/twilio/sms", params
    )
    _request(app, urlencode(params).encode(), signature)  # warm up: imports, connections
    if case == "flood":
        body = b"&".join(b"f=%d" % i for i in range(fields))
        signature = "forged"
    else:
        params["MessageSid"] = "SM" + "2" * 32
        body = urlencode(params).encode()
        signature = RequestValidator(settings.twilio_auth_token).compute_signature(
            settings.public_base_url + "/twilio/sms", params
        )
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = time.process_time()
    status = _request(app, body, signature)
    cpu = time.process_time() - cpu
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"status": status, "bytes": len(body), "cpu_s": cpu,
            "peak_mb": (peak_after - peak_before) / 1024}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=3_000_000)
    parser.add_argument("--case", choices=["reply", "flood"])
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.fields)))
        return
    results = {}
    for case in ("reply", "flood"):
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--fields", str(args.fields)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        results[case] = json.loads(out.stdout.strip().splitlines()[-1])
    reply, flood = results["reply"], results["flood"]
    print(
        f"signed reply:  HTTP {reply['status']}, {reply['bytes']:,} bytes, "
        f"CPU {reply['cpu_s'] * 1000:.1f} ms, peak memory +{reply['peak_mb']:.1f} MB"
    )
    print(
        f"flood:         HTTP {flood['status']}, {flood['bytes']:,} bytes, "
        f"{args.fields:,} fields, "
        f"CPU {flood['cpu_s'] * 1000:.1f} ms, peak memory +{flood['peak_mb']:.1f} MB"
    )
    print(f"flood / reply: CPU x{flood['cpu_s'] / max(reply['cpu_s'], 1e-9):.2f}, "
          f"peak memory +{flood['peak_mb'] - reply['peak_mb']:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
