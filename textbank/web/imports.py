"""Uploading a member list in the browser: columns recognised, a mapping step, a job imports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import Response, abort, flash, redirect, render_template, request, url_for

from textbank import enqueue
from textbank.members import uploads
from textbank.members.csvfile import pieces
from textbank.members.importer import MAPPABLE_FIELDS
from textbank.models import Upload, UploadKind, UploadStatus
from textbank.web import redis_ext
from textbank.web.auth import MANAGERS, login_required, signed_in
from textbank.web.database import db
from textbank.web.members import bp


def _upload(upload_id: int, kind: UploadKind = UploadKind.MEMBERS) -> Upload:
    upload = db().get(Upload, upload_id)
    if upload is None or upload.kind != kind.value:
        abort(404)
    return upload


def progress_of(upload: Upload) -> tuple[int, int]:
    """(written, to write) while a job runs, from the job's notes in Redis."""
    raw = redis_ext.client().get(uploads.progress_key(upload.id))
    if not raw:
        return 0, 0
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    done, _, total = text.partition("/")
    return int(done), int(total)


def read_file() -> tuple[str, Iterator[bytes]]:
    """The uploaded file's name and its bytes in pieces (werkzeug spooled it to disk)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise uploads.UploadError("choose a CSV file to upload")
    return upload.filename, pieces(upload.stream)


@bp.route("/members/import", endpoint="uploads", methods=["GET", "POST"])
@login_required(MANAGERS)
def uploads_page():
    session = db()
    error = None
    if request.method == "POST":
        try:
            name, data = read_file()
            upload = uploads.start(session, UploadKind.MEMBERS, name, data, signed_in())
        except uploads.UploadError as exc:
            session.rollback()
            error = str(exc)
        else:
            session.commit()
            return redirect(url_for("members.upload", upload_id=upload.id))
    recent = uploads.recent(session, UploadKind.MEMBERS)
    page = render_template("members/uploads.html", recent=recent, error=error)
    return (page, 400) if error else page


@bp.route("/members/import/<int:upload_id>", methods=["GET", "POST"])
@login_required(MANAGERS)
def upload(upload_id: int):
    up = _upload(upload_id)
    session = db()
    if up.status != UploadStatus.MAPPING:
        done, total = progress_of(up)
        return render_template("members/upload_status.html", up=up, done=done, total=total)
    error = None
    mapping = None
    if request.method == "POST":
        mapping = {
            header: request.form.get(f"col-{i}", "") for i, header in enumerate(_headers(up))
        }
        try:
            uploads.confirm_mapping(session, up, mapping)
        except uploads.UploadError as exc:
            session.rollback()
            error = str(exc)
        else:
            session.commit()
            enqueue.upload(redis_ext.client(), up.id)
            flash("Importing: this page shows the result when it is done.")
            return redirect(url_for("members.upload", upload_id=up.id))
    columns, rows = uploads.preview(session, up, mapping)
    page = render_template(
        "members/mapping.html", up=up, columns=columns, rows=rows, error=error,
        fields=MAPPABLE_FIELDS, labels=uploads.FIELD_LABELS,
    )  # fmt: skip
    return (page, 400) if error else page


def _headers(up: Upload) -> list[str]:
    columns, _ = uploads.preview(db(), up)
    return [c.header for c in columns]


@bp.get("/members/import/<int:upload_id>/rejected.csv")
@login_required(MANAGERS)
def rejected_csv(upload_id: int):
    up = _upload(upload_id)
    rejected = (up.result or {}).get("rejected_rows") or {"header": [], "rows": []}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "reason", *rejected["header"]])
    for r in rejected["rows"]:
        writer.writerow([r["row"], r["reason"], *(_cell(c) for c in r.get("cells", []))])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=rejected-rows-{up.id}.csv"},
    )


def _cell(value: str) -> str:
    """Shown as text by a spreadsheet: "=HYPERLINK(...)" must not run as a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
