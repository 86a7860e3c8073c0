"""People in the console: invites, roles, disabling, password resets, API tokens, audit log."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from textbank import audit, people
from textbank.accounts import AccountError
from textbank.models import ApiToken, LinkKind, User, utcnow
from textbank.replies import confirmations
from textbank.twilio.single import NotSent, send_text
from textbank.values import optional_id, record_id
from textbank.web import settings
from textbank.web.auth import (
    MANAGERS,
    login_required,
    secure_headers,
    signed_in,
    start_session,
)
from textbank.web.database import db

bp = Blueprint("people", __name__)
bp.after_request(secure_headers)

ROLES = (("volunteer", "Volunteer"), ("manager", "Campaign manager"), ("admin", "Admin"))


def _index(status: int = 200, error: str | None = None, link: tuple[str, str] | None = None):
    session = db()
    return render_template(
        "people/index.html", users=people.people(session), roles=ROLES, error=error,
        invites=people.pending_invites(session, utcnow()), link=link, me=signed_in(),
    ), status  # fmt: skip


@bp.get("/people")
@login_required(MANAGERS)
def index():
    return _index()


ENDPOINTS = {LinkKind.INVITE: "people.accept", LinkKind.RESET: "people.reset_with_link",
             LinkKind.SIGNIN: "people.signin_with_link"}  # fmt: skip


def _link(kind: LinkKind, token: str) -> str:
    return url_for(ENDPOINTS[kind], token=token, _external=True)


def _text_invite(email: str, role: str, phone: str):
    """Create the account and text its owner a one-time sign-in link (committed first: no
    transaction is open while Twilio answers)."""
    session = db()
    try:
        user, token = people.text_invite(session, signed_in(), email, role, phone, utcnow())
    except AccountError as exc:
        session.rollback()
        return _index(400, str(exc))
    session.commit()
    body = (f"{settings().org_name}: your textbank sign-in link, good once for 30 minutes: "
            f"{_link(LinkKind.SIGNIN, token)}")  # fmt: skip
    try:
        send_text(settings(), user.phone or "", body)
    except NotSent as exc:
        return _index(502, f"The text to {user.phone} did not go ({exc}). {user.email} has "
                      "an account: use Reset password to give them a link instead.")  # fmt: skip
    current_app.logger.info("sign-in link texted to user %s", user.id)
    flash(f"Texted a sign-in link to {user.phone} for {user.email}: it works once, for 30 "
          "minutes, and lets them choose a password.")  # fmt: skip
    return redirect(url_for("people.index"))


@bp.post("/people/invite")
@login_required(MANAGERS)
def invite():
    session = db()
    email, role = request.form.get("email", ""), request.form.get("role", "")
    if phone := request.form.get("phone", "").strip():
        return _text_invite(email, role, phone)
    try:
        token = people.invite(session, signed_in(), email, role, utcnow())
    except AccountError as exc:
        session.rollback()
        return _index(400, str(exc))
    session.commit()
    note = f"Invite for {email.strip().lower()}: send them this link (it works once, for 7 days)."
    return _index(201, link=(note, _link(LinkKind.INVITE, token)))


def _user(user_id: int) -> User:
    user = db().get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/people/<int:user_id>/role")
@login_required(MANAGERS)
def change_role(user_id: int):
    session, user = db(), _user(user_id)
    try:
        people.change_role(session, signed_in(), user, request.form.get("role", ""))
    except AccountError as exc:
        session.rollback()
        return _index(400, str(exc))
    session.commit()
    flash(f"{user.email} is now a {user.role}.")
    return redirect(url_for("people.index"))


@bp.post("/people/<int:user_id>/active")
@login_required(MANAGERS)
def set_active(user_id: int):
    session, user = db(), _user(user_id)
    active = request.form.get("active") == "yes"
    try:
        people.set_active(session, signed_in(), user, active)
    except AccountError as exc:
        session.rollback()
        return _index(400, str(exc))
    session.commit()
    disabled = f"{user.email} is disabled: signed out, and their API tokens no longer work."
    flash(f"{user.email} can sign in again." if active else disabled)
    return redirect(url_for("people.index"))


@bp.post("/people/<int:user_id>/reset")
@login_required(MANAGERS)
def reset(user_id: int):
    session, user = db(), _user(user_id)
    try:
        token = people.reset_link(session, signed_in(), user, utcnow())
    except AccountError as exc:
        session.rollback()
        return _index(400, str(exc))
    session.commit()
    note = (f"{user.email} is signed out everywhere. Send them this link to choose a new "
            "password (it works once, for a day).")  # fmt: skip
    return _index(200, link=(note, _link(LinkKind.RESET, token)))


def _password_form(template: str, token: str, kind: LinkKind | None = None, **context):
    """Both one-time link pages: choose a password twice, then the link is spent."""
    session, now = db(), utcnow()
    kind = kind or (LinkKind.INVITE if template == "people/accept.html" else LinkKind.RESET)
    try:
        link = people.find_link(session, token, kind, now)
    except AccountError as exc:
        return render_template(
            "message.html", title="This link does not work", message=str(exc)
        ), 404
    if request.method == "GET":
        return render_template(template, link=link, error=None)
    password, again = request.form.get("password", ""), request.form.get("password2", "")
    try:
        if password != again:
            raise AccountError("the two passwords are not the same")
        if kind == LinkKind.INVITE:
            user = people.accept_invite(session, token, password, now)
        else:
            user = people.use_reset_link(session, token, password, now, kind)
    except AccountError as exc:
        session.rollback()
        return render_template(template, link=link, error=str(exc)), 400
    session.commit()
    start_session(user)
    if user.role in MANAGERS:
        flash("Welcome: your password is set and you are signed in.")
        return redirect(url_for("dashboard.index"))
    if "volunteer.index" in current_app.view_functions:
        return redirect(url_for("volunteer.index"))
    return render_template(
        "message.html", title="Your account is ready",
        message="Your password is set. A campaign manager will tell you when your first "
        "text-bank shift starts.",
    )  # fmt: skip


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept(token: str):
    return _password_form("people/accept.html", token)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_with_link(token: str):
    return _password_form("people/reset.html", token)


@bp.route("/signin/<token>", methods=["GET", "POST"])
def signin_with_link(token: str):
    """The texted link: only a POST spends it (phones open links to preview them)."""
    return _password_form("people/reset.html", token, LinkKind.SIGNIN)


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required(MANAGERS)
def tokens():
    session, me = db(), signed_in()
    new_token = None
    if request.method == "POST":
        if request.form.get("revoke"):
            token_id = record_id(request.form["revoke"], "revoke")
            try:
                row = people.revoke_token(session, me, token_id, utcnow())
            except AccountError as exc:
                session.rollback()
                abort(404, str(exc))
            session.commit()
            flash(f"Token {row.prefix}… revoked: programs using it are refused from now on.")
            return redirect(url_for("people.tokens"))
        new_token = people.create_token(session, me)
        session.commit()
    rows = session.query(ApiToken).filter(ApiToken.user_id == me.id).order_by(ApiToken.id.desc())
    return render_template("people/tokens.html", tokens=list(rows), new_token=new_token)


@bp.get("/audit", endpoint="audit")
@login_required(MANAGERS)
def audit_log():
    args = request.args
    before = args.get("before", "")
    page = audit.events(
        db(), action=args.get("action") or None, actor=args.get("actor") or None,
        before=optional_id(before, "before"),
    )  # fmt: skip
    return render_template(
        "people/audit.html", page=page, actions=audit.ACTIONS, action=args.get("action", ""),
        actor=args.get("actor", ""),
    )  # fmt: skip


@bp.route("/settings/replies", methods=["GET", "POST"])
@login_required(MANAGERS)
def replies():
    session = db()
    error = None
    if request.method == "POST":
        changed = []
        try:
            for kind in confirmations.KINDS:
                for lang in confirmations.LANGUAGES:
                    field = f"{kind}-{lang}"
                    if field in request.form and confirmations.save(
                        session, kind, lang, request.form[field]
                    ):
                        changed.append(field)
        except confirmations.ConfirmationError as exc:
            session.rollback()
            error = str(exc)
        else:
            if changed:
                audit.record(session, signed_in(), "confirmations.edit", ", ".join(changed))
            session.commit()
            flash("Saved." if changed else "Nothing changed.")
            return redirect(url_for("people.replies"))
    custom = confirmations.custom_texts(session)
    if request.method == "POST":
        custom = {**custom, **{
            (k, lang): request.form.get(f"{k}-{lang}", "")
            for k in confirmations.KINDS for lang in confirmations.LANGUAGES
        }}  # fmt: skip
    return render_template(
        "people/replies.html", kinds=confirmations.KINDS, languages=confirmations.LANGUAGES,
        defaults=confirmations.DEFAULTS, custom=custom, error=error,
        org_name=settings().org_name,
    ), (400 if error else 200)  # fmt: skip


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
