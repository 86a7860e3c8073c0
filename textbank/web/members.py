"""Members in the console: browse and search, a member's page and timeline, edit, opt out/in."""

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

from textbank import audit, enqueue
from textbank.compliance.optouts import opt_in, opt_out
from textbank.members.editing import (
    check_merge,
    edit_member,
    locals_with_counts,
    members_of,
    rename_local,
)
from textbank.members.fields import FieldError
from textbank.members.search import SearchFilter, count_members, search_members
from textbank.members.timeline import timeline
from textbank.models import Local, Member, OptOutSource, utcnow
from textbank.values import optional_id
from textbank.web import redis_ext
from textbank.web.auth import MANAGERS, login_required, secure_headers, signed_in
from textbank.web.database import db

bp = Blueprint("members", __name__)
bp.after_request(secure_headers)

LANGUAGES = ("en", "es", "pt", "zh", "ht", "vi")


def _search_filter() -> SearchFilter:
    args = request.args
    return SearchFilter(**{k: args.get(k, "").strip()[:100] for k in SearchFilter.__annotations__})


@bp.get("/members")
@login_required(MANAGERS)
def index():
    f = _search_filter()
    after = request.args.get("after", "")
    session = db()
    locals_ = [(local.number, local.name) for local, _ in locals_with_counts(session)]
    try:
        result = search_members(session, f, optional_id(after, "after"))
    except FieldError as exc:
        return render_template(
            "members/index.html", f=f, error=str(exc), result=None, locals=locals_,
            languages=LANGUAGES, total=None,
        ), 400  # fmt: skip
    return render_template(
        "members/index.html", f=f, result=result, locals=locals_, languages=LANGUAGES,
        total=count_members(session) if not f.active() else None, error=None,
    )  # fmt: skip


def _member(member_id: int) -> Member:
    member = db().get(Member, member_id)
    if member is None:
        abort(404)
    return member


@bp.get("/members/<int:member_id>")
@login_required(MANAGERS)
def member(member_id: int):
    m = _member(member_id)
    return render_template("members/member.html", m=m, events=timeline(db(), m))


@bp.route("/members/<int:member_id>/edit", methods=["GET", "POST"])
@login_required(MANAGERS)
def edit(member_id: int):
    m = _member(member_id)
    form = dict(request.form) if request.method == "POST" else {
        "first_name": m.first_name, "last_name": m.last_name, "phone": m.phone,
        "email": m.email or "", "local": m.local.number if m.local else "",
        "worksite": m.worksite or "", "language": m.language, "status": m.status,
        "tags": "; ".join(m.tags), "is_leader": "y" if m.is_leader else "",
        "external_id": m.external_id or "", "zip_code": m.zip_code or "",
    }  # fmt: skip
    if request.method == "POST":
        session = db()
        try:
            changed = edit_member(session, signed_in(), m, form)
        except FieldError as exc:
            session.rollback()
            return render_template("members/edit.html", m=m, form=form, error=str(exc)), 400
        session.commit()
        flash(f"Saved: {', '.join(c.replace('_', ' ') for c in changed)}." if changed
              else "Nothing changed.")  # fmt: skip
        return redirect(url_for("members.member", member_id=m.id))
    return render_template("members/edit.html", m=m, form=form, error=None)


@bp.post("/members/<int:member_id>/opt-out")
@login_required(MANAGERS)
def opt_member_out(member_id: int):
    m = _member(member_id)
    reason = " ".join(request.form.get("reason", "").split())[:500]
    session, user = db(), signed_in()
    changed = opt_out(
        session, m.phone, OptOutSource.CONSOLE, utcnow(), client=redis_ext.client(),
        reason=reason or None, actor_id=user.id,
    )  # fmt: skip
    if changed:
        audit.record(session, user, "member.opt_out", f"member {m.id}", reason=reason)
    session.commit()
    flash("Opted out: no campaign will text this member." if changed else "Already opted out.")
    return redirect(url_for("members.member", member_id=m.id))


@bp.post("/members/<int:member_id>/opt-in")
@login_required(MANAGERS)
def opt_member_in(member_id: int):
    m = _member(member_id)
    reason = " ".join(request.form.get("reason", "").split())[:500]
    if len(reason) < 5:
        error = "Opting a member back in needs a reason (a few words) for the record."
        return render_template(
            "members/member.html", m=m, events=timeline(db(), m), error=error
        ), 400
    session, user = db(), signed_in()
    changed = opt_in(
        session, m.phone, OptOutSource.CONSOLE, utcnow(), client=redis_ext.client(),
        reason=reason, actor_id=user.id,
    )  # fmt: skip
    if changed:
        audit.record(session, user, "member.opt_in", f"member {m.id}", reason=reason)
    session.commit()
    flash("Opted back in: campaigns may text this member again." if changed else
          "This member was not opted out.")  # fmt: skip
    return redirect(url_for("members.member", member_id=m.id))


@bp.get("/locals")
@login_required(MANAGERS)
def locals():
    return render_template("members/locals.html", rows=locals_with_counts(db()), error=None)


@bp.post("/locals/<int:local_id>")
@login_required(MANAGERS)
def rename(local_id: int):
    session = db()
    local = session.get(Local, local_id) or abort(404)
    try:
        rename_local(session, signed_in(), local, request.form.get("name", ""))
    except FieldError as exc:
        session.rollback()
        return render_template(
            "members/locals.html", rows=locals_with_counts(session), error=str(exc)
        ), 400
    session.commit()
    flash(f"Local {local.number} is now called {local.name}.")
    return redirect(url_for("members.locals"))


@bp.post("/locals/merge")
@login_required(MANAGERS)
def merge():
    """Queue the merge (a job: proportional to the local's members) and show its progress."""
    session = db()
    ids = [request.form.get(k, "") for k in ("source", "target")]
    found = [session.get(Local, n) if (n := optional_id(i, "local")) else None for i in ids]
    try:
        source, target = check_merge(found[0], found[1])
    except FieldError as exc:
        return render_template(
            "members/locals.html", rows=locals_with_counts(session), error=str(exc)
        ), 400
    enqueue.merge_locals(redis_ext.client(), source.id, target.id, signed_in().id)
    current_app.logger.info("merge of local %s into %s queued", source.id, target.id)
    return redirect(url_for("members.merge_status", source_id=source.id, target_id=target.id))


@bp.get("/locals/merge/<int:source_id>-<int:target_id>")
@login_required(MANAGERS)
def merge_status(source_id: int, target_id: int):
    session = db()
    target = session.get(Local, target_id)
    if target is None:
        abort(404)
    source = session.get(Local, source_id)
    state = enqueue.merge_state(redis_ext.client(), source_id, target_id)
    left = members_of(session, source_id) if source is not None else 0
    return render_template("members/merge.html", source=source, target=target, state=state,
                           left=left, done=source is None)  # fmt: skip


def init_app(app: Flask) -> None:
    from textbank.web import imports  # noqa: F401 - its routes are on this blueprint

    app.register_blueprint(bp)
