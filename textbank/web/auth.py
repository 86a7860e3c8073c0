"""Sign-in for the web consoles: /login, /logout and the login_required decorator."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import cache, wraps
from typing import TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from textbank import signin_throttle
from textbank.accounts import check_password, end_sessions, find_user
from textbank.models import Role, User, utcnow
from textbank.web import redis_ext
from textbank.web.database import db
from textbank.web.sessions import CookieSessions

bp = Blueprint("auth", __name__)
T = TypeVar("T")

MANAGERS = (Role.ADMIN, Role.MANAGER)
SESSION_LIFETIME = timedelta(hours=12)  # a working day; a lost phone is not signed in for weeks
# No scripts, styles, frames or form targets from anywhere but the app itself.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Only its CSRF token: signing out is a POST no other site can make for you."""


def home_for(user: User | None) -> str:
    """Where a user starts: managers on the dashboard, volunteers in their console."""
    if user is not None and user.role not in MANAGERS:
        return url_for("volunteer.index")
    return url_for("dashboard.index")


def safe_next(target: str | None, user: User | None = None) -> str:
    """Where to go after signing in: a path on this site, never another host."""
    fallback = home_for(user)
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    # Browsers read "\" as "/" and drop tabs and newlines, so "/\evil.example" is off-site.
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return fallback
    parts = urlsplit(target)
    return target if not (parts.scheme or parts.netloc) else fallback


def off_the_loop(fn: Callable[..., T], *args) -> T:
    """Run a password hash on a real thread when gunicorn's gevent workers serve the app.

    A hash is ~100 ms of CPU on purpose, with the GIL released: on the event loop it would
    stall every other request of the process (a shift's crowd signing in would stall the
    others' Sends); on gevent's thread pool it runs beside them.
    """
    monkey = sys.modules.get("gevent.monkey")  # imported only where gevent runs
    if monkey is not None and monkey.is_module_patched("threading"):
        from gevent import get_hub

        return get_hub().threadpool.apply(fn, args)
    return fn(*args)


@cache
def _dummy_hash() -> str:
    return generate_password_hash("not a password anyone has")


def _refused(user: User):
    return render_template("forbidden.html", role=user.role), 403


def current_user() -> User | None:
    """The signed-in user, read again on every request so a deactivation takes effect."""
    if "current_user" not in g:
        user_id = session.get("user_id")
        user = db().get(User, user_id) if isinstance(user_id, int) else None
        if user is not None and not _session_current(user):
            user = None
        g.current_user = user if user is not None and user.active else None
    return g.current_user


def signed_in() -> User:
    """The signed-in user, in a view behind login_required (so never None there)."""
    user = current_user()
    if user is None:
        abort(401)
    return user


def _session_current(user: User) -> bool:
    """False for a session begun before the user's sessions were ended (reset, role change)."""
    return session_current(user.sessions_valid_after, session.get("since", 0))


def session_current(ended: datetime | None, since) -> bool:
    """Whether a session begun at `since` (its cookie's time.time()) outlived the end of the
    user's sessions at `ended`; also read in front of Flask (consoles.fast_send)."""
    return ended is None or float(since) > ended.timestamp()


def may_enter(role: str, roles: Iterable[str]) -> bool:
    """Whether a user of `role` may use a view open to `roles` (see login_required)."""
    return role in {str(r) for r in roles}


def start_session(user: User) -> None:
    """A fresh session for a user who just proved who they are."""
    session.clear()  # nothing planted before survives (fixation)
    session["user_id"] = user.id
    session["since"] = time.time()
    session.permanent = True
    user.last_login_at = utcnow()
    db().commit()


def login_required(roles: Iterable[str] = MANAGERS) -> Callable:
    """Decorate a view: anonymous users go to /login?next=..., other roles get a 403 page."""
    allowed = {str(r) for r in roles}

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                target = request.full_path if request.query_string else request.path
                return redirect(url_for("auth.login", next=target))
            if not may_enter(user.role, allowed):
                return _refused(user)
            return view(*args, **kwargs)

        return wrapped

    return decorator


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        user = current_user()
        if user is not None:
            return redirect(safe_next(form.next.data, user))
        return render_template("login.html", form=form)
    # CSRFProtect has already refused a POST without a valid token (400) before we get here.
    if not form.validate_on_submit():
        return render_template("login.html", form=form), 400
    email, address = form.email.data, request.remote_addr or "unknown"
    redis = redis_ext.client()
    # Checked before the password, for every email typed, so a throttled answer is the same
    # (and as quick) whether or not the account exists, and a right password does not show.
    wait = signin_throttle.wait_seconds(redis, email, address)
    if wait:
        error = signin_throttle.message(wait)
        page = render_template("login.html", form=form, error=error)
        return page, 429, {"Retry-After": str(wait)}
    user = find_user(db(), email)
    # The hash below costs tens of milliseconds of CPU on purpose; no pooled connection
    # waits through it (a shift's crowd signing in at once would drain the pool).
    db().commit()
    if user is None or not user.active:
        # Hash anyway, so the time taken does not tell which emails have an account.
        off_the_loop(check_password_hash, _dummy_hash(), form.password.data)
    if not off_the_loop(check_password, user, form.password.data):
        signin_throttle.record_failure(redis, email, address)
        return render_template("login.html", form=form, error="Wrong email or password."), 401
    signin_throttle.record_success(redis, email, address)
    start_session(user)
    return redirect(safe_next(form.next.data, user))


@bp.post("/logout")
def logout():
    # CSRFProtect checked the token; LogoutForm exists to render it in the page.
    user = current_user()
    if user is not None:
        # A copy of this cookie (another tab's, a stolen one) stops working too: a signed
        # cookie cannot be taken back, so every session begun before now ends.
        end_sessions(db(), user)
        db().commit()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


def _csrf_error(exc: CSRFError):
    return render_template(
        "message.html",
        title="Form expired",
        message=(
            "This form was open too long or came from another site. Go back, reload the page "
            "and try again."
        ),
    ), 400


@bp.after_request
def secure_headers(response):
    """Security headers for every console page; the data behind them is not for caches."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    app.session_interface = CookieSessions()
    app.register_blueprint(bp)
    app.register_error_handler(CSRFError, _csrf_error)

    @app.context_processor
    def _console_context() -> dict:
        # Templates render the signed-in user and the sign-out form's CSRF token.
        return {"current_user": current_user, "logout_form": LogoutForm}
