"""Members API: import a CSV, list members."""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterable

from flask import g, jsonify, request, url_for

from textbank import enqueue
from textbank.api import ApiError, bp
from textbank.api.auth import MANAGERS, require_role
from textbank.members import uploads
from textbank.members.csvfile import Sniffer, UnreadableFile
from textbank.members.fields import FieldError
from textbank.members.importer import NotAMemberList, import_members
from textbank.members.listing import MAX_PAGE, list_members, member_to_dict
from textbank.models import Upload, UploadKind, UploadStatus
from textbank.values import whole_number
from textbank.web import redis_ext
from textbank.web.database import db
from textbank.web.imports import progress_of
from textbank.web.limits import upload_pieces

log = logging.getLogger(__name__)


# Past this a file is imported by a job (the answer is 202 and the job's address): a big
# union's list takes longer than any platform's router waits for an answer.
JOB_BYTES = 1024 * 1024


@bp.post("/members/import")
@require_role(*MANAGERS)
def import_member_csv():
    """Import a CSV body: at once up to JOB_BYTES, past that as a job (202, poll the URL)."""
    body = upload_pieces()
    sniffer, head, size = Sniffer(), [], 0
    try:
        for piece in body:
            sniffer.feed(piece)  # an .xlsx is refused at its first 64 KB, before the rest
            head.append(piece)
            size += len(piece)
            if size > JOB_BYTES:
                break
        else:
            encoding = sniffer.finish()
    except UnreadableFile as exc:
        raise ApiError(f"not a member list: {exc}", 400) from exc
    session = db()
    if size > JOB_BYTES:
        return _queue_import(session, itertools.chain(head, body))
    try:
        result = import_members(session, io.BytesIO(b"".join(head)), encoding=encoding)
    except NotAMemberList as exc:
        session.rollback()
        raise ApiError(f"not a member list: {exc}", 400) from exc
    session.commit()
    return jsonify(result.to_dict())


def _queue_import(session, pieces: Iterable[bytes]):
    """The browser's Upload job, with the columns recognised by their names.

    The body goes to the database a part at a time as it arrives (see members/spool.py).
    """
    try:
        upload = uploads.start(session, UploadKind.MEMBERS, "api-import.csv", pieces, g.user)
    except uploads.UploadError as exc:
        session.rollback()
        raise ApiError(str(exc), 400) from exc
    upload.mapping, upload.status = {}, UploadStatus.QUEUED
    session.commit()
    enqueue.upload(redis_ext.client(), upload.id)
    url = url_for("api.import_status", upload_id=upload.id)
    return jsonify(id=upload.id, status=upload.status, url=url), 202, {"Location": url}


@bp.get("/imports/<int:upload_id>")
@require_role(*MANAGERS)
def import_status(upload_id: int):
    upload = db().get(Upload, upload_id)
    if upload is None or upload.kind != UploadKind.MEMBERS:
        raise ApiError(f"no import {upload_id}", 404)
    done, total = progress_of(upload)
    return jsonify(
        id=upload.id, status=upload.status, rows_done=done, rows_total=total,
        result=upload.result if upload.status == UploadStatus.DONE else None,
        error=upload.error,
    )  # fmt: skip


@bp.get("/members")
@require_role(*MANAGERS)
def get_members():
    args = request.args
    limit = whole_number(args.get("limit", "100"), "limit", 1, MAX_PAGE)
    try:
        page = list_members(
            db(),
            local=args.get("local") or None,
            phone=args.get("phone") or None,
            limit=limit,
            after=args.get("after") or None,
        )
    except FieldError as exc:
        raise ApiError(str(exc), 400) from exc
    return jsonify(members=[member_to_dict(m) for m in page.members], next=page.next_cursor)
