"""The volunteer console, its live event stream and the supervisor's view (Flask views)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from textbank.consoles import events, supervisor, volunteer

    app.register_blueprint(volunteer.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(supervisor.bp)


def fast_path(app: Flask, wsgi_app):
    """The volunteer's Send in front of Flask (see fast_send)."""
    from textbank.consoles.fast_send import FastSend

    return FastSend(app, wsgi_app)
