"""textbank: SMS and voice text-banking for labor unions."""

from __future__ import annotations

import logging
import os

from flask import Flask

from textbank.config import Settings, current_environ


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; settings default to the process environment."""
    instance_path = os.environ.get("TEXTBANK_INSTANCE_PATH") or None
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    if settings is None:
        settings = Settings.from_env(current_environ(), app.instance_path)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.is_dev,
        JSON_SORT_KEYS=False,
    )
    if not app.debug and not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
    for warning in settings.warnings():
        logging.getLogger("textbank").warning("WARNING: %s", warning)

    from flask_wtf.csrf import CSRFProtect

    from textbank import api, cli, consoles, web, webhooks
    from textbank.web import (
        auth,
        campaigns,
        checks,
        dashboard,
        database,
        errors,
        limits,
        members,
        optouts,
        people,
        redis_ext,
    )

    app.extensions["textbank.settings"] = settings
    limits.init_app(app)  # first: no hook may read a body before the limits apply
    checks.init_app(app)
    database.init_app(app, settings)
    redis_ext.init_app(app, settings)
    api.init_app(app)
    web.init_app(app)
    webhooks.init_app(app)
    # Every form POST carries a CSRF token; the API (bearer tokens) and Twilio's webhooks
    # (signatures) are authenticated per request and are never posted by a browser.
    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)
    csrf.exempt(webhooks.bp)
    auth.init_app(app)
    dashboard.init_app(app)
    for console in (members, optouts, people, errors):
        console.init_app(app)
    campaigns.init_app(app)
    consoles.init_app(app)
    cli.init_app(app)
    # Outermost: a plain reply, or a call's plain status callback, is handled before Flask
    # sees it (see fast_sms and fast_calls); so is a volunteer's Send (consoles.fast_send).
    app.wsgi_app = webhooks.fast_path(  # type: ignore[method-assign]
        app, consoles.fast_path(app, app.wsgi_app)
    )
    return app
