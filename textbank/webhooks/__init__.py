"""Twilio's webhooks under /twilio, each checked against X-Twilio-Signature."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("twilio", __name__, url_prefix="/twilio")


def init_app(app: Flask) -> None:
    from textbank.webhooks import calls, sms, status, voice  # noqa: F401 - registers routes

    app.register_blueprint(bp)


def fast_path(app: Flask, wsgi_app):
    from textbank.webhooks.fast_calls import FastCallStatus
    from textbank.webhooks.fast_sms import FastReplies
    from textbank.webhooks.fast_status import FastStatus

    return FastStatus(app, FastCallStatus(app, FastReplies(app, wsgi_app)))
