"""Before launch: each language's text as a real member will see it, and who gets texted."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textbank.campaigns.audience import audience_filter, audience_members
from textbank.campaigns.lifecycle import SAMPLE_MEMBER
from textbank.campaigns.rendering import TemplateError, measure, render, ucs2_characters
from textbank.members.phones import looks_e164
from textbank.models import Local, Member

DEFAULT = "default"


def sample_member(
    session: Session, audience: dict, language: str | None, others: tuple[str, ...] = ()
) -> dict:
    """A real member of the audience who reads `language` (None: none of `others`, the
    languages with a translation) to fill merge fields; the built-in sample when the
    audience is empty."""
    base = audience_members(audience).where(Member.opted_out_at.is_(None)).limit(1)
    if language:
        row = session.execute(base.where(Member.language == language)).first()
    else:
        row = session.execute(base.where(Member.language.not_in(others))).first()
    row = row or session.execute(base).first()
    if row is None:
        return {**SAMPLE_MEMBER, "name": "a sample member", "real": False}
    values = dict(row._mapping)
    name = " ".join(p for p in (values["first_name"], (values["last_name"] or "")[:1]) if p)
    return {**values, "name": (name + "." if values["last_name"] else name) or "a member",
            "real": True}  # fmt: skip


@dataclass
class LanguagePreview:
    language: str
    text: str = ""
    encoding: str = ""
    segments: int = 0
    characters: int = 0
    ucs2: list[str] = field(default_factory=list)
    member: str = ""
    error: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def preview_texts(
    session: Session, message: str, translations: dict[str, str], audience: dict
) -> list[LanguagePreview]:
    """Each language's text filled in for a real member of the audience who reads it."""
    out = []
    for lang, template in {DEFAULT: message, **translations}.items():
        p = LanguagePreview(lang)
        member = sample_member(
            session, audience, None if lang == DEFAULT else lang, tuple(translations)
        )
        p.member = member["name"]
        try:
            p.text = render(template, member)
        except TemplateError as exc:
            p.error = str(exc)
            out.append(p)
            continue
        info = measure(p.text)
        p.encoding, p.segments, p.characters = info.encoding.value, info.segments, info.characters
        p.ucs2 = ucs2_characters(p.text)
        out.append(p)
    return out


@dataclass
class AudienceCount:
    matched: int
    opted_out: int
    # Phones are unique among members, so an audience never holds a duplicate.
    textable: int
    by_language: dict[str, int]


def count_audience(session: Session, audience: dict) -> AudienceCount:
    """Counts only: members matched, of whom opted out, and the rest by language."""
    where = audience_filter(audience)
    matched, opted_out = session.execute(
        select(func.count(), func.count(Member.opted_out_at)).where(*where)
    ).one()
    by_language = dict(
        session.execute(
            select(Member.language, func.count())
            .where(*where, Member.opted_out_at.is_(None))
            .group_by(Member.language)
        ).all()
    )
    return AudienceCount(matched, opted_out, matched - opted_out, by_language)


@dataclass
class LaunchPlan:
    """What launching now would do, from count queries (no member is loaded)."""

    texted: int
    skipped: dict[str, int]
    by_language: list[tuple[str, int, str, int]]  # (language, members, text used, segments)
    by_local: list[tuple[str, int]]
    segments: int  # estimated: each language's segments for a real member, times members


def launch_plan(session: Session, campaign) -> LaunchPlan:
    audience = campaign.audience
    counts = count_audience(session, audience)
    where = [*audience_filter(audience), Member.opted_out_at.is_(None)]
    # Phones were validated on the way in; one that does not look like E.164 is skipped.
    invalid = sum(
        1
        for (phone,) in session.execute(
            select(Member.phone).where(*where, ~Member.phone.like("+%")).limit(10_000)
        )
        if not looks_e164(phone)
    )
    previews = {p.language: p for p in preview_texts(
        session, campaign.message, campaign.translations, audience)}  # fmt: skip
    by_language, segments = [], 0
    for lang, n in sorted(counts.by_language.items(), key=lambda kv: -kv[1]):
        used = lang if lang in previews else DEFAULT
        each = previews[used].segments
        by_language.append((lang, n, used, each))
        segments += n * each
    by_local = [
        (number or "(no local)", n)
        for number, n in session.execute(
            select(Local.number, func.count())
            .select_from(Member)
            .outerjoin(Local, Local.id == Member.local_id)
            .where(*where)
            .group_by(Local.number)
            .order_by(func.count().desc())
            .limit(12)
        )
    ]
    return LaunchPlan(
        texted=counts.textable - invalid,
        skipped={"opted_out": counts.opted_out, "invalid": invalid, "duplicate": 0},
        by_language=by_language,
        by_local=by_local,
        segments=segments,
    )
