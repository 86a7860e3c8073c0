"""The opt-out pages: search the ledger, import a suppression list, export, opt back in."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from textbank import csvexport, enqueue
from textbank.compliance.ledger_view import currently_opted_out, ledger_page
from textbank.compliance.optouts import iter_ledger
from textbank.members import uploads
from textbank.members.timeline import SOURCES
from textbank.models import Upload, UploadKind
from textbank.values import optional_id
from textbank.web import redis_ext
from textbank.web.auth import MANAGERS, login_required, secure_headers, signed_in
from textbank.web.database import db, session_factory
from textbank.web.imports import read_file

bp = Blueprint("optouts", __name__)
bp.after_request(secure_headers)

EXPORT_FIELDS = ("phone", "member_id", "kind", "source", "text", "reason", "at")


def _page(error: str | None = None, status: int = 200):
    args = request.args
    q, kind = args.get("q", "").strip()[:100], args.get("kind", "")
    before = args.get("before", "")
    session = db()
    rows, next_before = ledger_page(session, q, kind, optional_id(before, "before"))
    return render_template(
        "optouts/index.html", rows=rows, next_before=next_before, q=q, kind=kind,
        sources=SOURCES, total=currently_opted_out(session), error=error,
        recent=uploads.recent(session, UploadKind.SUPPRESSION, 5),
    ), status  # fmt: skip


@bp.get("/opt-outs")
@login_required(MANAGERS)
def index():
    return _page()


@bp.post("/opt-outs/import")
@login_required(MANAGERS)
def upload():
    session = db()
    try:
        name, data = read_file()
        up = uploads.start(session, UploadKind.SUPPRESSION, name, data, signed_in())
    except uploads.UploadError as exc:
        session.rollback()
        return _page(str(exc), 400)
    session.commit()
    enqueue.upload(redis_ext.client(), up.id)
    return redirect(url_for("optouts.upload_status", upload_id=up.id))


@bp.get("/opt-outs/import/<int:upload_id>")
@login_required(MANAGERS)
def upload_status(upload_id: int):
    up = db().get(Upload, upload_id)
    if up is None or up.kind != UploadKind.SUPPRESSION.value:
        abort(404)
    return render_template("optouts/upload.html", up=up)


@bp.get("/opt-outs.csv")
@login_required(MANAGERS)
def export():
    """Streamed a thousand rows at a time from batches of the ledger read by id: memory stays
    flat whatever its length (scripts/bench_optout_export.py measures it on 500,000)."""
    sessions = session_factory()

    def rows():
        # A session of its own, closed when the download ends: the request's is closed when
        # the view returns, and a closed session read again begins a transaction nobody ends
        # (on SQLite, a write lock held until the garbage collector finds it).
        with sessions() as session:
            yield from iter_ledger(session)

    return Response(
        stream_with_context(csvexport.csv_chunks(EXPORT_FIELDS, rows())),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=opt-outs.csv"},
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
