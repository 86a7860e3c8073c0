"""Bench-only: a `textbank worker` that notes when each calls.create leaves it.

bench_voice.py starts its workers through this module (python scripts/voice_trace.py DIR):
every POST to …/Calls.json made through the workers' transport appends "to, sent, answered"
(Unix seconds, to the microsecond) to DIR/sent-PID.tsv, so the pace the workers kept can be
set beside the pace the carrier saw. Nothing in textbank itself knows about it.
"""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import parse_qs


def install(directory: str) -> None:
    from textbank.twilio import clients

    out = open(os.path.join(directory, f"sent-{os.getpid()}.tsv"), "a", buffering=1)  # noqa: SIM115
    original = clients.WireClient.request

    async def request(self, method, url, params=None, data=None, *args, **kwargs):
        if method.upper() != "POST" or not url.endswith("/Calls.json"):
            return await original(self, method, url, params, data, *args, **kwargs)
        sent = time.time()
        try:
            return await original(self, method, url, params, data, *args, **kwargs)
        finally:
            to = (data or {}).get("To", "")
            attempt = parse_qs((data or {}).get("Url", "").partition("?")[2]).get("a", ["?"])[0]
            out.write(f"{to}\t{attempt}\t{sent:.6f}\t{time.time():.6f}\n")

    clients.WireClient.request = request  # type: ignore[method-assign]


if __name__ == "__main__":
    install(sys.argv[1])
    from textbank.cli import main

    sys.argv = ["textbank", "worker"]
    main()
