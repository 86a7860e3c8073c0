"""Flask glue: per-request resources and the non-API routes."""

from __future__ import annotations

from flask import Flask, current_app

from textbank.config import Settings


def settings() -> Settings:
    """The running app's settings."""
    return current_app.extensions["textbank.settings"]


def init_app(app: Flask) -> None:
    from textbank.web import health

    app.register_blueprint(health.bp)
