"""Member list import: parse a CSV, merge duplicates, upsert by phone, all or nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from textbank.bulk import bulk_insert
from textbank.compliance.optouts import suppressed_among
from textbank.members import fields as mf
from textbank.members.csvfile import (
    UnreadableFile,
    UnreadableRow,
    decode,
    normalize_header,
    read_table,
)
from textbank.members.phones import InvalidPhone, to_e164
from textbank.models import Local, Member, MemberTag, table, utcnow

log = logging.getLogger(__name__)

# Columns an import may set. Opt-out state is deliberately absent: a file never re-subscribes.
MEMBER_COLUMNS = (
    "first_name", "last_name", "email", "worksite", "language", "status", "is_leader",
    "external_id", "zip_code",
)  # fmt: skip
CHUNK = 5000
NEW_MEMBER_DEFAULTS = {
    "first_name": "",
    "last_name": "",
    "email": None,
    "worksite": None,
    "language": "en",
    "status": "active",
    "is_leader": False,
    "external_id": None,
    "zip_code": None,
    "opted_out_at": None,
    "opt_out_source": None,
}
INSERT_COLUMNS = (
    *MEMBER_COLUMNS, "phone", "local_id", "created_at", "updated_at", "opted_out_at",
    "opt_out_source",
)  # fmt: skip


class NotAMemberList(ValueError):
    """The upload cannot be read as a member list; nothing was written."""


@dataclass
class Rejection:
    row: int
    reason: str


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
class ParsedFile:
    members: dict[str, ParsedMember]
    rejected: list[Rejection]
    duplicates: int
    ignored_columns: list[str]
    warnings: list[Rejection] = field(default_factory=list)


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


def parse_member_file(data: bytes, mapping: dict[str, str] | None = None) -> ParsedFile:
    """Read and validate a member CSV without touching the database."""
    try:
        table = read_table(decode(data), mf.ALIAS_TO_FIELD)
    except UnreadableFile as exc:
        raise NotAMemberList(str(exc)) from exc
    columns, ignored = _column_map(table.header, mapping)
    if "phone" not in columns.values():
        found = ", ".join(h.strip() for h in table.header if h.strip())[:300] or "none"
        raise NotAMemberList(
            "no phone column: expected one of phone, cell, mobile, phone_number; "
            f"found columns: {found}"
        )
    members: dict[str, ParsedMember] = {}
    rejected: list[Rejection] = []
    warnings: list[Rejection] = []
    duplicates = 0
    seen_rows = 0
    try:
        for number, cells in table.rows:
            if isinstance(cells, UnreadableRow):
                rejected.append(Rejection(number, cells.reason))
                seen_rows += 1
                continue
            if not any(c.strip() for c in cells):
                continue  # blank rows: spreadsheets pad exports with them
            seen_rows += 1
            try:
                member = _parse_row(number, cells, columns)
            except (InvalidPhone, mf.FieldError) as exc:
                rejected.append(Rejection(number, str(exc)))
                continue
            warnings.extend(Rejection(number, w) for w in member.warnings)
            if member.phone in members:
                members[member.phone].merge(member)
                duplicates += 1
            else:
                members[member.phone] = member
    except UnreadableFile as exc:
        raise NotAMemberList(str(exc)) from exc
    if seen_rows == 0:
        raise NotAMemberList("the file has a header but no member rows")
    return ParsedFile(members, rejected, duplicates, ignored, warnings)


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ensure_locals(session: Session, parsed: dict[str, ParsedMember]) -> dict[str, int]:
    """Local number -> id, creating locals seen for the first time."""
    names: dict[str, str | None] = {}
    for m in parsed.values():
        if m.local:
            names[m.local] = m.local_name or names.get(m.local)
    if not names:
        return {}
    ids: dict[str, int] = {}
    for chunk in _chunks(sorted(names)):
        ids.update(
            session.execute(select(Local.number, Local.id).where(Local.number.in_(chunk))).all()
        )
    missing = [
        {"number": n, "name": names[n] or f"Local {n}", "created_at": utcnow()}
        for n in names
        if n not in ids
    ]
    if missing:
        for number, local_id in session.execute(
            insert(Local).returning(Local.number, Local.id), missing
        ):
            ids[number] = local_id
    return ids


def import_members(
    session: Session,
    data: bytes,
    mapping: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Upsert the members in a CSV; the caller's transaction makes it all or nothing.

    `mapping` is a manager's choice of field per column; `progress(done, total)` hears how
    many members have been written as the chunks go in.
    """
    parsed = parse_member_file(data, mapping)
    result = ImportResult(
        duplicates=parsed.duplicates,
        rejected=parsed.rejected,
        ignored_columns=parsed.ignored_columns,
        warnings=parsed.warnings,
    )
    local_ids = _ensure_locals(session, parsed.members)
    phones = list(parsed.members)
    existing: dict[str, Member] = {}
    for chunk in _chunks(phones):
        rows = session.execute(
            select(
                Member.id,
                Member.phone,
                Member.local_id,
                *(getattr(Member, c) for c in MEMBER_COLUMNS),
            ).where(Member.phone.in_(chunk))
        )
        existing.update({row.phone: row for row in rows})
    existing_tags: dict[int, set[str]] = {}
    ids = [row.id for row in existing.values()]
    for chunk in _chunks(ids):
        for member_id, tag in session.execute(
            select(MemberTag.member_id, MemberTag.tag).where(MemberTag.member_id.in_(chunk))
        ):
            existing_tags.setdefault(member_id, set()).add(tag)

    now = utcnow()
    # A phone that opted out before it was a member stays opted out as one.
    suppressed = suppressed_among(session, [p for p in parsed.members if p not in existing])
    to_insert: list[dict] = []
    to_update: list[dict] = []
    new_tags: list[tuple[int, str]] = []
    for phone, member in parsed.members.items():
        local_id = local_ids.get(member.local) if member.local else None
        row = existing.get(phone)
        if row is None:
            values = {**NEW_MEMBER_DEFAULTS, **member.values}
            if phone in suppressed:
                values["opted_out_at"], values["opt_out_source"] = now, "suppression_list"
            to_insert.append(
                {
                    **values,
                    "phone": phone,
                    "local_id": local_id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            continue
        # An empty cell never erases what is on file.
        changes = {k: v for k, v in member.values.items() if getattr(row, k) != v}
        if local_id is not None and local_id != row.local_id:
            changes["local_id"] = local_id
        added = member.tags - existing_tags.get(row.id, set())
        new_tags.extend((row.id, t) for t in sorted(added))
        if changes:
            to_update.append({"id": row.id, **changes, "updated_at": now})
        if changes or added:
            result.updated += 1
        else:
            result.unchanged += 1

    total, done = len(to_insert) + len(to_update), 0
    for chunk in _chunks(to_insert):
        bulk_insert(
            session,
            table(Member),
            INSERT_COLUMNS,
            [tuple(values[c] for c in INSERT_COLUMNS) for values in chunk],
        )
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    new_phones = [values["phone"] for values in to_insert]
    for chunk in _chunks(new_phones):
        for member_id, phone in session.execute(
            select(Member.id, Member.phone).where(Member.phone.in_(chunk))
        ):
            new_tags.extend((member_id, t) for t in sorted(parsed.members[phone].tags))
    result.created = len(to_insert)
    for chunk in _chunks(to_update):
        session.execute(update(Member), chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    bulk_insert(session, table(MemberTag), ("member_id", "tag"), new_tags)
    log.info(
        "member import: created=%d updated=%d unchanged=%d duplicates=%d rejected=%d",
        result.created,
        result.updated,
        result.unchanged,
        result.duplicates,
        len(result.rejected),
    )
    return result
