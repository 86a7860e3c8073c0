"""Member list import: parse a CSV, merge duplicates, upsert by phone, all or nothing."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from textbank.members import fields as mf
from textbank.members.csvfile import (
    Encoding,
    Table,
    UnreadableFile,
    UnreadableRow,
    normalize_header,
    open_table,
)
from textbank.members.phones import InvalidPhone, to_e164
from textbank.members.upsert import MemberWriter
from textbank.models import utcnow

log = logging.getLogger(__name__)

CHUNK = 5000  # members parsed, then written, at a time: memory holds one chunk, not the file


class NotAMemberList(ValueError):
    """The upload cannot be read as a member list; nothing was written."""


@dataclass
class Rejection:
    row: int
    reason: str
    # The row as the file had it, for the rejected rows' download (not in the result).
    cells: list[str] = field(default_factory=list, compare=False, repr=False)


@dataclass
class ParsedMember:
    """One member as the file describes them, after merging duplicate rows."""

    row: int
    phone: str
    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    local: str | None = None
    local_name: str | None = None
    tags: set[str] = field(default_factory=set)

    def merge(self, other: ParsedMember) -> None:
        """A later row for the same phone fills in and overrides, and adds its tags."""
        self.values.update(other.values)
        self.local = other.local or self.local
        self.local_name = other.local_name or self.local_name
        self.tags |= other.tags


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    # Rows imported without a value that could not be kept (a malformed email).
    warnings: list[Rejection] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # the file's, as written

    def to_dict(self) -> dict:
        return {
            "warnings": [{"row": w.row, "warning": w.reason} for w in self.warnings],
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "rejected": [{"row": r.row, "reason": r.reason} for r in self.rejected],
            "ignored_columns": self.ignored_columns,
        }


# What a manager may map a column to in the browser (besides ignoring it).
MAPPABLE_FIELDS = (
    "phone", "first_name", "last_name", "full_name", "email", "local", "local_name",
    "worksite", "language", "status", "tags", "is_leader", "external_id", "zip_code",
)  # fmt: skip


def recognise(name: str) -> str | None:
    """The member field a column header names, if textbank knows the spelling."""
    return mf.ALIAS_TO_FIELD.get(normalize_header(name))


def _column_map(
    header: list[str], chosen: dict[str, str] | None = None
) -> tuple[dict[int, str], list[str]]:
    """Map column positions to member fields; list the columns nobody reads.

    `chosen` (header as written -> field, "" to ignore) is a manager's mapping; columns it
    does not mention are recognised by their names.
    """
    mapping: dict[int, str] = {}
    ignored: list[str] = []
    taken: set[str] = set()
    for pos, name in enumerate(header):
        if chosen is not None and name in chosen:
            fld = chosen[name] or None
            if fld is not None and fld not in MAPPABLE_FIELDS:
                raise NotAMemberList(f"column {name!r}: no member field called {fld!r}")
        else:
            fld = recognise(name)
        if fld and fld not in taken:
            mapping[pos] = fld
            taken.add(fld)
        elif name.strip():
            ignored.append(name.strip())
    return mapping, ignored


def _parse_row(number: int, cells: list[str], columns: dict[int, str]) -> ParsedMember:
    """Validate one row; raise FieldError or InvalidPhone naming the field."""
    raw = {fld: cells[pos].strip() for pos, fld in columns.items() if pos < len(cells)}
    member = ParsedMember(row=number, phone=to_e164(raw.get("phone", "")))
    if raw.get("full_name") and not (raw.get("first_name") or raw.get("last_name")):
        raw["first_name"], raw["last_name"] = mf.split_full_name(raw["full_name"])
    for fld, limit in mf.MAX_LENGTHS.items():
        if len(raw.get(fld, "")) > limit:
            raise mf.FieldError(f"{fld} longer than {limit} characters")
    values = member.values
    for fld in ("first_name", "last_name", "worksite"):
        if raw.get(fld):
            values[fld] = " ".join(raw[fld].split())
    if raw.get("email"):
        try:
            values["email"] = mf.normalize_email(raw["email"])
        except mf.FieldError as exc:
            # A good phone is worth more than a typo'd email: keep the member, drop the email.
            member.warnings.append(f"{exc}: imported without it")
    if raw.get("external_id"):
        values["external_id"] = raw["external_id"]
    if raw.get("zip_code"):
        values["zip_code"] = mf.normalize_zip(raw["zip_code"])
    if raw.get("language"):
        values["language"] = mf.normalize_language(raw["language"])
    if raw.get("status"):
        values["status"] = mf.normalize_status(raw["status"])
    if raw.get("local"):
        member.local = mf.normalize_local(raw["local"])
        # "Local 26", "#26", "26" are named "Local 26"; a local written as a name of its
        # own ("SEIU 1199 United") keeps it, unless the file has a local name column.
        written = " ".join(raw["local"].split())
        own_name = written if " " in written and written.upper() == member.local else None
        member.local_name = raw.get("local_name") or own_name
    if raw.get("tags"):
        member.tags = mf.split_tags(raw["tags"])
    if raw.get("is_leader"):
        values["is_leader"] = mf.parse_flag(raw["is_leader"], "leader")
    return member


def open_member_table(
    source: bytes | BinaryIO, mapping: dict[str, str] | None, encoding: Encoding | None
) -> tuple[Table, dict[int, str], list[str]]:
    """The file's table and which column is which field; NotAMemberList if it has no phones."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        table = open_table(stream, mf.ALIAS_TO_FIELD, encoding)
    except UnreadableFile as exc:
        raise NotAMemberList(str(exc)) from exc
    columns, ignored = _column_map(table.header, mapping)
    if "phone" not in columns.values():
        found = ", ".join(h.strip() for h in table.header if h.strip())[:300] or "none"
        raise NotAMemberList(
            "no phone column: expected one of phone, cell, mobile, phone_number; "
            f"found columns: {found}"
        )
    return table, columns, ignored


def parse_chunks(
    table: Table, columns: dict[int, str], result: ImportResult
) -> Iterator[dict[str, ParsedMember]]:
    """The members of the file, CHUNK distinct phones at a time, duplicate rows merged.

    Rejected rows and warnings are noted in `result` as they are met.
    """
    members: dict[str, ParsedMember] = {}
    seen_rows = 0
    try:
        for number, cells in table.rows:
            if isinstance(cells, UnreadableRow):
                result.rejected.append(Rejection(number, cells.reason))
                seen_rows += 1
                continue
            if not any(c.strip() for c in cells):
                continue  # blank rows: spreadsheets pad exports with them
            seen_rows += 1
            try:
                member = _parse_row(number, cells, columns)
            except (InvalidPhone, mf.FieldError) as exc:
                result.rejected.append(Rejection(number, str(exc), cells))
                continue
            result.warnings.extend(Rejection(number, w) for w in member.warnings)
            if member.phone in members:
                members[member.phone].merge(member)
                result.duplicates += 1
            else:
                members[member.phone] = member
            if len(members) >= CHUNK:
                yield members
                members = {}
    except UnreadableFile as exc:
        raise NotAMemberList(str(exc)) from exc
    if seen_rows == 0:
        raise NotAMemberList("the file has a header but no member rows")
    if members:
        yield members


def import_members(
    session: Session,
    source: bytes | BinaryIO,
    mapping: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    encoding: Encoding | None = None,
) -> ImportResult:
    """Upsert the members in a CSV; the caller's transaction makes it all or nothing.

    `source` is the file's bytes or a seekable binary file, read a piece at a time (twice,
    unless its `encoding` is already known). `mapping` is a manager's choice of field per
    column; `progress(done, total)` hears how many members have been written after each
    chunk, of at most the file's line count (and the exact count at the end).
    """
    table, columns, ignored = open_member_table(source, mapping, encoding)
    result = ImportResult(ignored_columns=ignored, header=table.header)
    writer = MemberWriter(session, utcnow())
    lines = max(encoding.lines - 1, 0) if encoding is not None else 0  # rows at most
    for chunk in parse_chunks(table, columns, result):
        writer.write(chunk)
        if progress is not None:
            progress(writer.written, max(lines, writer.written))
    counts = writer.finish()
    result.created, result.updated = counts["created"], counts["updated"]
    result.unchanged, result.duplicates = counts["unchanged"], result.duplicates + writer.duplicates
    if progress is not None:
        progress(writer.written, writer.written)
    log.info(
        "member import: created=%d updated=%d unchanged=%d duplicates=%d rejected=%d",
        result.created,
        result.updated,
        result.unchanged,
        result.duplicates,
        len(result.rejected),
    )
    return result
