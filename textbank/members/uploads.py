"""Files uploaded in the browser: a preview with the columns recognised, then a job imports."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from textbank import audit
from textbank.compliance.optouts import import_suppression_list
from textbank.compliance.suppression_file import NotASuppressionList, read_suppression_list
from textbank.members import fields as mf
from textbank.members import spool
from textbank.members.csvfile import UnreadableFile, open_table
from textbank.members.importer import (
    MAPPABLE_FIELDS,
    ImportResult,
    NotAMemberList,
    import_members,
    recognise,
)
from textbank.models import Upload, UploadKind, UploadStatus, User, utcnow

log = logging.getLogger(__name__)

PREVIEW_ROWS = 5
FIELD_LABELS = {
    "phone": "Phone (required)",
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "email": "Email",
    "local": "Local (number)",
    "local_name": "Local's name",
    "worksite": "Worksite",
    "language": "Language",
    "status": "Member status",
    "tags": "Tags (separated by ;)",
    "is_leader": "Local leader (yes/no)",
    "external_id": "ID in another system (VANID…)",
    "zip_code": "Zip code",
}


class UploadError(ValueError):
    """An upload that cannot go on; the message says what to fix."""


@dataclass
class Column:
    header: str
    field: str | None  # recognised or chosen; None: ignored
    recognised: bool
    samples: list[str]


def progress_key(upload_id: int) -> str:
    return f"textbank:upload:{upload_id}:progress"


def preview(
    session: Session, upload: Upload, mapping: dict[str, str] | None = None
) -> tuple[list[Column], int]:
    """The file's columns with what each is taken for, a few values of each, and rows seen.

    Only the file's first rows are read.
    """
    try:
        table = open_table(
            spool.open_parts(session, upload.id), mf.ALIAS_TO_FIELD, spool.encoding_of(upload)
        )
        rows = []
        for _, cells in table.rows:
            if isinstance(cells, list) and any(c.strip() for c in cells):
                rows.append(cells)
            if len(rows) >= PREVIEW_ROWS:
                break
    except UnreadableFile as exc:
        raise UploadError(f"not a CSV file textbank can read: {exc}") from exc
    columns = []
    taken: set[str] = set()
    for pos, header in enumerate(table.header):
        found = recognise(header)
        chosen = (mapping or {}).get(header, found) if mapping is not None else found
        if chosen in taken:
            chosen = None
        if chosen:
            taken.add(chosen)
        samples = [r[pos].strip() for r in rows if pos < len(r) and r[pos].strip()]
        columns.append(Column(header, chosen or None, found is not None, samples[:3]))
    return columns, len(rows)


def start(
    session: Session, kind: UploadKind, filename: str, pieces: Iterable[bytes], actor: User
) -> Upload:
    """Keep an uploaded file, a part at a time, until its import is confirmed and done.

    `pieces` are the file's bytes in order; a binary file is refused at its first 64 KB.
    """
    upload = Upload(
        kind=kind.value, filename=(filename or "upload.csv")[:255], mapping={},
        status=(UploadStatus.MAPPING if kind == UploadKind.MEMBERS else UploadStatus.QUEUED),
        created_by_id=actor.id, created_at=utcnow(), rows_done=0, rows_total=0,
    )  # fmt: skip
    session.add(upload)
    session.flush()
    try:
        spool.store(session, upload, pieces)
    except UnreadableFile as exc:
        if str(exc) == "the file is empty":
            raise UploadError("the file is empty") from exc
        raise UploadError(f"not a CSV file textbank can read: {exc}") from exc
    if kind == UploadKind.MEMBERS:
        preview(session, upload)  # refuses what is not a CSV before it is kept
    else:
        try:
            read_suppression_list(spool.open_parts(session, upload.id))
        except NotASuppressionList as exc:
            raise UploadError(f"not a suppression list: {exc}") from exc
    return upload


def confirm_mapping(session: Session, upload: Upload, mapping: dict[str, str]) -> None:
    """Take a manager's choice of field per column; exactly one column must be the phone."""
    if upload.status != UploadStatus.MAPPING:
        raise UploadError("this file was already imported; upload it again to change columns")
    used: dict[str, str] = {}
    for header, fld in mapping.items():
        if not fld:
            continue
        if fld not in MAPPABLE_FIELDS:
            raise UploadError(f"column {header!r}: no member field called {fld!r}")
        if fld in used:
            raise UploadError(
                f"columns {used[fld]!r} and {header!r} are both {FIELD_LABELS[fld]}: pick one"
            )
        used[fld] = header
    if "phone" not in used:
        raise UploadError("pick the column that holds the phone numbers")
    upload.mapping = mapping
    upload.status = UploadStatus.QUEUED


def _rejected_rows(result: ImportResult) -> dict:
    """The rejected rows as the file had them, for the manager to fix and upload again."""
    if not result.rejected:
        return {"header": [], "rows": []}
    return {
        "header": result.header,
        "rows": [{"row": r.row, "reason": r.reason, "cells": r.cells} for r in result.rejected],
    }


def run(
    sessions: sessionmaker[Session], upload_id: int, client: redis.Redis | None, now: datetime
) -> str:
    """Import an upload (the job's work); safe to run again: a finished one is left alone."""
    with sessions.begin() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status in (UploadStatus.DONE, UploadStatus.FAILED):
            return upload.status if upload else "missing"
        if upload.status == UploadStatus.MAPPING:
            return upload.status  # not confirmed: nothing to do yet
        upload.status = UploadStatus.RUNNING
    with sessions() as session:
        upload = session.get(Upload, upload_id)
        if upload is None:
            return "missing"
        actor = session.get(User, upload.created_by_id) if upload.created_by_id else None
        data = spool.open_parts(session, upload_id)

        def progress(done: int, total: int) -> None:
            if client is not None:
                client.set(progress_key(upload_id), f"{done}/{total}", ex=24 * 3600)

        try:
            if upload.kind == UploadKind.MEMBERS:
                imported = import_members(
                    session, data, upload.mapping, progress, spool.encoding_of(upload)
                )
                result = {**imported.to_dict(), "rejected_rows": _rejected_rows(imported)}
                action = "members.import"
            else:
                rows = read_suppression_list(data)
                result = import_suppression_list(
                    session, rows, now, client, actor_id=actor.id if actor else None
                )
                action = "optouts.import"
        except (NotAMemberList, NotASuppressionList, mf.FieldError) as exc:
            session.rollback()
            failed = session.get(Upload, upload_id)
            if failed is None:
                return "missing"
            failed.status, failed.error, failed.finished_at = UploadStatus.FAILED, str(exc), now
            spool.discard(session, upload_id)  # failed for good: a new upload starts again
            session.commit()
            log.info("upload %s failed: %s", upload_id, exc)
            return UploadStatus.FAILED.value
        upload.result, upload.status, upload.finished_at = result, UploadStatus.DONE, now
        spool.discard(session, upload_id)  # imported: the members are in the database
        audit.record(
            session, actor, action, upload.filename,
            upload=upload_id, rejected=len(result.get("rejected", [])),
        )  # fmt: skip
        session.commit()
    log.info("upload %s imported", upload_id)
    return UploadStatus.DONE.value


def recent(session: Session, kind: UploadKind, limit: int = 10) -> list[Upload]:
    return list(
        session.scalars(
            select(Upload).where(Upload.kind == kind.value).order_by(Upload.id.desc()).limit(limit)
        )
    )
