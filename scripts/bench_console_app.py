"""WSGI app for scripts/bench_console.py: textbank plus one baseline route, for gunicorn only.

`POST /bench/empty` answers a few bytes with no database work: the same server's floor under
the same signed-in volunteers, registered here so no benchmark route ships in the product.
"""

from __future__ import annotations

from flask import Response

from textbank import create_app

app = create_app()


@app.post("/bench/empty")
def empty() -> Response:
    return Response("ok", mimetype="text/plain")
