"""Changing one member by hand, and renaming and merging locals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from textbank import audit
from textbank.members import fields as mf
from textbank.members.phones import InvalidPhone, to_e164
from textbank.models import Campaign, CampaignStatus, Local, Member, MemberTag, User

log = logging.getLogger(__name__)

EDITABLE = ("first_name", "last_name", "phone", "email", "local", "worksite", "language",
            "status", "tags", "is_leader", "external_id", "zip_code")  # fmt: skip


def _clean(session: Session, member: Member, form: dict[str, str]) -> dict:
    """Validated new values; FieldError names the first field that is wrong."""
    out: dict = {}
    for name in ("first_name", "last_name", "worksite", "external_id"):
        value = " ".join(form.get(name, "").split())
        limit = mf.MAX_LENGTHS.get(name, 200)
        if len(value) > limit:
            raise mf.FieldError(f"{name.replace('_', ' ')} longer than {limit} characters")
        out[name] = value if value or name in ("first_name", "last_name") else None
    try:
        out["phone"] = to_e164(form.get("phone", ""))
    except InvalidPhone as exc:
        raise mf.FieldError(f"phone: {exc}") from exc
    if out["phone"] != member.phone and session.scalar(
        select(Member.id).where(Member.phone == out["phone"])
    ):
        raise mf.FieldError("phone: another member has this phone number")
    email = form.get("email", "").strip()
    out["email"] = mf.normalize_email(email) if email else None
    zip_code = form.get("zip_code", "").strip()
    out["zip_code"] = mf.normalize_zip(zip_code) if zip_code else None
    out["language"] = mf.normalize_language(form.get("language", "") or "en")
    out["status"] = mf.normalize_status(form.get("status", "") or "active")
    out["is_leader"] = form.get("is_leader") in ("y", "on", "yes", "true", "1")
    local = form.get("local", "").strip()
    out["local_id"] = _local_id(session, mf.normalize_local(local)) if local else None
    out["tags"] = mf.split_tags(form.get("tags", "").replace(",", ";"))
    return out


def _local_id(session: Session, number: str) -> int:
    local_id = session.scalar(select(Local.id).where(Local.number == number))
    if local_id is None:
        local = Local(number=number, name=f"Local {number}")
        session.add(local)
        session.flush()
        local_id = local.id
    return local_id


def edit_member(session: Session, actor: User, member: Member, form: dict[str, str]) -> list[str]:
    """Apply a manager's edit; returns the fields changed. Opt-out state is not editable here."""
    values = _clean(session, member, form)
    tags = values.pop("tags")
    changed = [k for k, v in values.items() if getattr(member, k) != v]
    for key in changed:
        setattr(member, key, values[key])
    if set(member.tags) != tags:
        changed.append("tags")
        keep = [row for row in member.tag_rows if row.tag in tags]
        have = {row.tag for row in keep}
        member.tag_rows = keep + [
            MemberTag(member_id=member.id, tag=t) for t in sorted(tags - have)
        ]
    if changed:
        session.flush()
        audit.record(session, actor, "member.edit", f"member {member.id}", fields=changed)
    return changed


def locals_with_counts(session: Session) -> list[tuple[Local, int]]:
    counts = select(Member.local_id, func.count().label("n")).group_by(Member.local_id).subquery()
    rows = session.execute(
        select(Local, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.local_id == Local.id)
        .order_by(Local.number)
    )
    return [(local, n) for local, n in rows]


def rename_local(session: Session, actor: User, local: Local, name: str) -> None:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise mf.FieldError("name: between 1 and 200 characters")
    if name != local.name:
        audit.record(session, actor, "local.rename", local.number, before=local.name, after=name)
        local.name = name


MERGE_CHUNK = 5000  # members moved per transaction: short locks, visible progress


def check_merge(source: Local | None, target: Local | None) -> tuple[Local, Local]:
    """The two locals of a merge a manager asked for, or FieldError saying what is wrong."""
    if source is None or target is None:
        raise mf.FieldError("merge: pick the local to merge and the local to keep")
    if source.id == target.id:
        raise mf.FieldError("merge: pick two different locals")
    return source, target


def move_members(session: Session, source_id: int, target_id: int, limit: int) -> int:
    """Move up to `limit` members of one local into another; returns how many moved."""
    ids = select(Member.id).where(Member.local_id == source_id).order_by(Member.id).limit(limit)
    moved = cast(
        CursorResult,
        session.execute(
            update(Member).where(Member.id.in_(ids.scalar_subquery())).values(local_id=target_id)
        ),
    ).rowcount
    return moved or 0


def members_of(session: Session, local_id: int) -> int:
    return session.scalar(select(func.count()).where(Member.local_id == local_id)) or 0


def finish_merge(session: Session, actor: User | None, source: Local, target: Local,
                 moved: int) -> None:  # fmt: skip
    """Once the source local has no members: draft campaigns naming it name the target, the
    merge is in the audit log, and the source local is removed."""
    # Campaigns not yet launched that name the merged local text its members where they are now.
    for campaign in session.scalars(
        select(Campaign).where(Campaign.status == CampaignStatus.DRAFT)
    ):
        named = (campaign.audience or {}).get("locals") or []
        if source.number in named:
            kept = [n for n in named if n != source.number]
            locals_ = kept if target.number in kept else [*kept, target.number]
            campaign.audience = {**campaign.audience, "locals": locals_}
    audit.record(
        session, actor, "local.merge", f"{source.number} into {target.number}",
        members=moved, removed=source.name,
    )  # fmt: skip
    session.delete(source)
    session.flush()


def merge_locals(session: Session, actor: User, source: Local, target: Local) -> int:
    """Move every member of `source` into `target` and remove `source` in one transaction;
    returns how many moved. The console runs it as a job in chunks (run_merge)."""
    source, target = check_merge(source, target)
    moved = move_members(session, source.id, target.id, members_of(session, source.id))
    finish_merge(session, actor, source, target, moved)
    return moved


def run_merge(
    sessions: sessionmaker[Session], source_id: int, target_id: int, actor_id: int | None,
    progress: Callable[[int, int], object] = lambda moved, left: None,
) -> int:  # fmt: skip
    """The merge as a job: members move a chunk per transaction, then the source local goes.
    Safe to run twice or after a crash: it carries on from the members still to move."""
    moved = 0
    while True:
        with sessions.begin() as session:
            n = move_members(session, source_id, target_id, MERGE_CHUNK)
            left = members_of(session, source_id) if n else 0
        moved += n
        progress(moved, left)
        if not n:
            break
    with sessions.begin() as session:
        source, target = session.get(Local, source_id), session.get(Local, target_id)
        if source is not None and target is not None:
            actor = session.get(User, actor_id) if actor_id else None
            finish_merge(session, actor, source, target, moved)
    log.info("local %s merged into %s: %d members moved", source_id, target_id, moved)
    return moved
