"""Every request's values checked before any view: ids in range, no NULs; BadValue is a 400."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request

from textbank.values import MAX_ID, BadValue, nul_field


def _check_request() -> None:
    # A path id past PostgreSQL's `integer` is no row's id, and the database would refuse
    # to even compare it: say so rather than fail.
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise BadValue(f"{name} must be from 1 to {MAX_ID}, got {value}")
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise BadValue(f"{name.replace(chr(0), '')}: NUL characters are not allowed")
    # Twilio's webhooks are signed over what Twilio sent: they strip NULs after the check.
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith("/twilio/"):
        return
    # API uploads raise their own body limit in the view: their forms are not read here.
    forms = ("application/x-www-form-urlencoded", "multipart/form-data")
    if request.mimetype in forms and not request.path.startswith("/api/"):
        for name, value in request.form.items(multi=True):
            if "\x00" in name or "\x00" in value:
                raise BadValue(f"{name.replace(chr(0), '')}: NUL characters are not allowed")
    elif request.is_json:
        field = nul_field(request.get_json(silent=True))
        if field:
            raise BadValue(f"{field.replace(chr(0), '')}: NUL characters are not allowed")


def _bad_value(exc: BadValue):
    if request.path.startswith(("/api/", "/twilio/")):
        return jsonify(error=str(exc)), 400
    return render_template("message.html", title="Something in this request is wrong",
                           message=str(exc)), 400  # fmt: skip


def init_app(app: Flask) -> None:
    """After the limits (the body is bounded before anything here reads it)."""
    app.before_request(_check_request)
    app.register_error_handler(BadValue, _bad_value)
