"""Styled error pages for people (404, 500); programs still get JSON from the API."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound

log = logging.getLogger(__name__)

PAGES = {
    404: ("Page not found", "There is no page at this address. It may have moved, or the link "
          "was mistyped."),
    500: ("Something went wrong", "textbank could not finish this. Nothing you did caused it; "
          "it has been logged. Try again in a minute."),
}  # fmt: skip


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/twilio/")) or request.accept_mimetypes.best == (
        "application/json"
    )


def _page(code: int, description: str | None = None):
    title, message = PAGES[code]
    if _wants_json():
        return jsonify(error=description or title.lower()), code
    return render_template("error.html", code=code, title=title, message=message), code


def not_found(exc: NotFound):
    return _page(404, exc.description if _wants_json() else None)


def server_error(exc: HTTPException | Exception):
    original = getattr(exc, "original_exception", None) or exc
    log.error("unhandled error on %s %s: %r", request.method, request.path, original)
    return _page(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(404, not_found)
    app.register_error_handler(InternalServerError, server_error)
