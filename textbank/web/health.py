"""GET /healthz: can the app reach its database and Redis?"""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from textbank.web import database, redis_ext

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks: dict[str, str] = {}
    try:
        with database.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        redis_ext.client().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "unhealthy", **checks), 200 if healthy else 503
