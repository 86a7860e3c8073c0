"""WSGI app for scripts/bench_inbound.py: textbank plus one baseline route, for gunicorn only.

`gunicorn --chdir scripts bench_inbound_app:app`, settings from the environment. The extra
route `POST /bench/empty-twiml` answers an empty TwiML `<Response/>` with no database and no
signature check: the same server's floor, registered here so that no benchmark route ships
in the product.
"""

from __future__ import annotations

from flask import Response

from textbank import create_app

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

app = create_app()


@app.post("/bench/empty-twiml")
def empty_twiml() -> Response:
    return Response(EMPTY_TWIML, mimetype="application/xml")


if "csrf" in app.extensions:  # like the webhooks, posted by no browser
    app.extensions["csrf"].exempt(empty_twiml)
