"""Write parsed members to the database a chunk at a time, in the caller's transaction.

An import streams: memory holds one chunk of members, never the file. What must still be
known across chunks (was this phone in an earlier chunk? was that member created, updated or
left unchanged?) lives in a temporary table of the import's own connection, so a phone met
again 100,000 rows later is counted as a duplicate merged, as when the file was read whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, String, Table, func, insert, select, text, update
from sqlalchemy.orm import Session

from textbank.bulk import bulk_insert
from textbank.compliance.optouts import suppressed_among
from textbank.models import Local, Member, MemberTag, table

if TYPE_CHECKING:
    from textbank.members.importer import ParsedMember

# Columns an import may set. Opt-out state is deliberately absent: a file never re-subscribes.
MEMBER_COLUMNS = (
    "first_name", "last_name", "email", "worksite", "language", "status", "is_leader",
    "external_id", "zip_code",
)  # fmt: skip
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
CREATED, UPDATED, UNCHANGED = "c", "u", "n"

# Phones this import has written, with what happened to their member (CREATED, ...).
_seen = Table(
    "textbank_import_seen",
    MetaData(),
    Column("phone", String(32), primary_key=True),
    Column("outcome", String(1), nullable=False),
    prefixes=["TEMPORARY"],
)


class MemberWriter:
    """Upsert chunks of members by phone; counts come from finish()."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now
        self.duplicates = 0  # phones met again in a later chunk
        self.written = 0  # members inserted or updated so far
        self._local_ids: dict[str, int] = {}
        self._unnamed: set[str] = set()  # locals this import created before it knew a name
        self._drop()
        _seen.create(session.connection())

    def _drop(self) -> None:
        schema = "pg_temp" if self.session.get_bind().dialect.name == "postgresql" else "temp"
        self.session.execute(text(f"DROP TABLE IF EXISTS {schema}.{_seen.name}"))

    def _locals(self, chunk: dict[str, ParsedMember]) -> dict[str, int]:
        """Local number -> id, creating locals seen for the first time."""
        names: dict[str, str | None] = {}
        for m in chunk.values():
            if m.local:
                names[m.local] = m.local_name or names.get(m.local)
        unknown = sorted(n for n in names if n not in self._local_ids)
        if unknown:
            self._local_ids.update(
                self.session.execute(
                    select(Local.number, Local.id).where(Local.number.in_(unknown))
                ).all()
            )
        created = [n for n in unknown if n not in self._local_ids]
        missing = [
            {"number": n, "name": names[n] or f"Local {n}", "created_at": self.now} for n in created
        ]
        if missing:
            for number, local_id in self.session.execute(
                insert(Local).returning(Local.number, Local.id), missing
            ):
                self._local_ids[number] = local_id
            self._unnamed.update(n for n in created if not names[n])
        # A local created nameless by an earlier chunk takes the name a later row gives it.
        for number in [n for n in self._unnamed if names.get(n)]:
            self.session.execute(
                update(Local).where(Local.number == number).values(name=names[number])
            )
            self._unnamed.discard(number)
        return self._local_ids

    def write(self, chunk: dict[str, ParsedMember]) -> None:
        session, now = self.session, self.now
        local_ids = self._locals(chunk)
        phones = list(chunk)
        existing = {
            row.phone: row
            for row in session.execute(
                select(
                    Member.id, Member.phone, Member.local_id,
                    *(getattr(Member, c) for c in MEMBER_COLUMNS),
                ).where(Member.phone.in_(phones))
            )
        }  # fmt: skip
        existing_tags: dict[int, set[str]] = {}
        ids = [row.id for row in existing.values()]
        if ids:
            for member_id, tag in session.execute(
                select(MemberTag.member_id, MemberTag.tag).where(MemberTag.member_id.in_(ids))
            ):
                existing_tags.setdefault(member_id, set()).add(tag)
        seen = dict(
            session.execute(
                select(_seen.c.phone, _seen.c.outcome).where(_seen.c.phone.in_(phones))
            ).all()
        )
        self.duplicates += len(seen)
        # A phone that opted out before it was a member stays opted out as one.
        suppressed = suppressed_among(session, [p for p in phones if p not in existing])
        to_insert: list[dict] = []
        to_update: list[dict] = []
        new_tags: list[tuple[int, str]] = []
        outcomes: list[tuple[str, str]] = []
        now_updated: list[str] = []
        for phone, member in chunk.items():
            local_id = local_ids.get(member.local) if member.local else None
            row = existing.get(phone)
            if row is None:
                values = {**NEW_MEMBER_DEFAULTS, **member.values}
                if phone in suppressed:
                    values["opted_out_at"], values["opt_out_source"] = now, "suppression_list"
                to_insert.append(
                    {**values, "phone": phone, "local_id": local_id, "created_at": now,
                     "updated_at": now}
                )  # fmt: skip
                outcomes.append((phone, CREATED))
                continue
            # An empty cell never erases what is on file.
            changes = {k: v for k, v in member.values.items() if getattr(row, k) != v}
            if local_id is not None and local_id != row.local_id:
                changes["local_id"] = local_id
            added = member.tags - existing_tags.get(row.id, set())
            new_tags.extend((row.id, t) for t in sorted(added))
            if changes:
                to_update.append({"id": row.id, **changes, "updated_at": now})
            outcome = UPDATED if changes or added else UNCHANGED
            before = seen.get(phone)
            if before is None:
                outcomes.append((phone, outcome))
            elif before == UNCHANGED and outcome == UPDATED:
                now_updated.append(phone)

        bulk_insert(
            session,
            table(Member),
            INSERT_COLUMNS,
            [tuple(values[c] for c in INSERT_COLUMNS) for values in to_insert],
        )
        if to_insert:
            new_phones = [values["phone"] for values in to_insert]
            for member_id, phone in session.execute(
                select(Member.id, Member.phone).where(Member.phone.in_(new_phones))
            ):
                new_tags.extend((member_id, t) for t in sorted(chunk[phone].tags))
        if to_update:
            session.execute(update(Member), to_update)
        bulk_insert(session, table(MemberTag), ("member_id", "tag"), new_tags)
        bulk_insert(session, _seen, ("phone", "outcome"), outcomes)
        if now_updated:
            session.execute(
                update(_seen).where(_seen.c.phone.in_(now_updated)).values(outcome=UPDATED)
            )
        self.written += len(to_insert) + len(to_update)

    def finish(self) -> dict[str, int]:
        """How many members were created, updated, unchanged; the temporary table goes."""
        counts: dict[str, int] = dict(
            self.session.execute(
                select(_seen.c.outcome, func.count()).group_by(_seen.c.outcome)
            ).all()
        )
        self._drop()
        return {
            "created": counts.get(CREATED, 0),
            "updated": counts.get(UPDATED, 0),
            "unchanged": counts.get(UNCHANGED, 0),
        }
