"""The JSON API under /api/v1, behind bearer tokens."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request
from werkzeug.exceptions import HTTPException

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    """An error answered as {"error": message} with an HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return jsonify(error=exc.message), exc.status


def _http_error(exc: HTTPException):
    # JSON errors for API clients; the consoles keep Flask's HTML pages.
    if request.path.startswith("/api/"):
        return jsonify(error=exc.description), exc.code
    return exc


def _no_sniff_no_store(response):
    # Member data: never guessed into HTML by a browser, never kept by a cache or proxy;
    # errors too, so unknown /api/ paths and refusals are covered.
    if request.path.startswith("/api/"):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    from textbank.api import (  # noqa: F401 - registers routes on bp
        calls,
        campaigns,
        conversations,
        digests,
        members,
        replies,
        reports,
    )

    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_no_sniff_no_store)
