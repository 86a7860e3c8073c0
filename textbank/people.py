"""People who sign in: invites, one-time links, roles, disabling, password resets, tokens."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from textbank import audit
from textbank.accounts import (
    TOKEN_PREFIX,
    AccountError,
    create_user,
    end_sessions,
    find_user,
    hash_token,
    normalize_email,
    set_password,
)
from textbank.compliance.optouts import suppressed_among
from textbank.members.phones import InvalidPhone, to_e164
from textbank.models import AccountLink, ApiToken, LinkKind, Member, Role, User

log = logging.getLogger(__name__)

LIFETIMES = {
    LinkKind.INVITE: timedelta(days=7),
    LinkKind.RESET: timedelta(days=1),
    LinkKind.SIGNIN: timedelta(minutes=30),  # texted: short, so a lost phone matters less
}


def _can_manage(actor: User, role: str) -> None:
    """Managers handle volunteers and managers; only an admin grants or touches admin."""
    if actor.role == Role.ADMIN:
        return
    if actor.role != Role.MANAGER or role == Role.ADMIN:
        raise AccountError("only an admin can give or change an admin account")


def _role(value: str) -> str:
    try:
        return Role(value).value
    except ValueError as exc:
        raise AccountError(f"unknown role {value!r}: use admin, manager or volunteer") from exc


def _new_link(
    session: Session, kind: LinkKind, email: str, actor: User | None, now: datetime, *,
    role: str | None = None, user: User | None = None,
) -> str:  # fmt: skip
    token = secrets.token_urlsafe(32)
    session.add(
        AccountLink(
            token_hash=hash_token(token), kind=kind.value, email=email, role=role,
            user_id=user.id if user else None, created_by_id=actor.id if actor else None,
            created_at=now, expires_at=now + LIFETIMES[kind],
        )
    )  # fmt: skip
    session.flush()
    return token


def invite(session: Session, actor: User, email: str, role: str, now: datetime) -> str:
    """A link that creates the account on first use; returns the link's secret part."""
    email, role = normalize_email(email), _role(role)
    _can_manage(actor, role)
    if find_user(session, email) is not None:
        raise AccountError(f"{email} already has an account")
    token = _new_link(session, LinkKind.INVITE, email, actor, now, role=role)
    audit.record(session, actor, "user.invite", email, role=role)
    return token


def text_invite(
    session: Session, actor: User, email: str, role: str, phone: str, now: datetime
) -> tuple[User, str]:
    """The account, holding its owner's phone, and a one-time sign-in link to text them
    (the alternative to an invite link): the link signs them in once and they choose a
    password. Refused for a phone on the opt-out list: it is never texted."""
    email, role = normalize_email(email), _role(role)
    _can_manage(actor, role)
    if find_user(session, email) is not None:
        raise AccountError(f"{email} already has an account")
    try:
        phone = to_e164(phone)
    except InvalidPhone as exc:
        raise AccountError(f"phone: {exc}") from exc
    opted_out = session.scalar(
        select(Member.id).where(Member.phone == phone, Member.opted_out_at.is_not(None))
    )
    if opted_out or suppressed_among(session, [phone]):
        raise AccountError(
            f"{phone} has opted out of our texts, so it is never texted: create an invite "
            "link instead (leave the phone empty)"
        )
    user = create_user(session, email, role, secrets.token_urlsafe(32))  # set on first use
    user.phone = phone
    token = _new_link(session, LinkKind.SIGNIN, email, actor, now, role=role, user=user)
    audit.record(session, actor, "user.invite", email, role=role, texted_to=phone[-4:])
    return user, token


def find_link(session: Session, token: str, kind: LinkKind, now: datetime) -> AccountLink:
    """The live link for a token, or AccountError saying why it cannot be used."""
    link = session.scalar(select(AccountLink).where(AccountLink.token_hash == hash_token(token)))
    if link is None or link.kind != kind.value:
        raise AccountError("this link is not one textbank made; ask for a new one")
    if link.used_at is not None:
        raise AccountError("this link was used already; ask for a new one")
    if link.expires_at <= now:
        raise AccountError("this link has expired; ask for a new one")
    return link


def accept_invite(session: Session, token: str, password: str, now: datetime) -> User:
    """Create the invited account with the password its owner chose."""
    link = find_link(session, token, LinkKind.INVITE, now)
    user = create_user(session, link.email, link.role or Role.VOLUNTEER, password)
    link.used_at, link.user_id = now, user.id
    audit.record(session, user, "user.join", user.email, role=user.role)
    return user


def reset_link(session: Session, actor: User, user: User, now: datetime) -> str:
    """A link to set a new password; the old one stops working and sessions end now."""
    _can_manage(actor, user.role)
    end_sessions(session, user)
    token = _new_link(session, LinkKind.RESET, user.email, actor, now, user=user)
    audit.record(session, actor, "user.reset_password", user.email)
    return token


def use_reset_link(
    session: Session, token: str, password: str, now: datetime, kind: LinkKind = LinkKind.RESET
) -> User:
    """Choose a password with a reset link, or a texted sign-in link (kind SIGNIN)."""
    link = find_link(session, token, kind, now)
    user = session.get(User, link.user_id) if link.user_id else None
    if user is None or not user.active:
        raise AccountError("this account is disabled; ask a manager")
    set_password(session, user, password)
    link.used_at = now
    return user


def reset_password(session: Session, email: str, password: str) -> User:
    """`textbank users reset-password`: a new password, every session ended."""
    user = find_user(session, email)
    if user is None:
        raise AccountError(f"no user with email {email.strip().lower()}")
    set_password(session, user, password)
    audit.record(session, "command line", "user.reset_password", user.email)
    return user


def change_role(session: Session, actor: User, user: User, role: str) -> None:
    role = _role(role)
    if user.id == actor.id:
        raise AccountError("you cannot change your own role; ask another manager")
    _can_manage(actor, user.role)
    _can_manage(actor, role)
    if user.role == role:
        return
    audit.record(session, actor, "user.role", user.email, before=user.role, after=role)
    user.role = role
    end_sessions(session, user)  # what they may do changed: they sign in again


def set_active(session: Session, actor: User, user: User, active: bool) -> None:
    """Disable (signed out at once, tokens refused) or enable an account."""
    if user.id == actor.id:
        raise AccountError("you cannot disable your own account")
    _can_manage(actor, user.role)
    if user.active == active:
        return
    user.active = active
    if not active:
        end_sessions(session, user)
    audit.record(session, actor, "user.enable" if active else "user.disable", user.email)


def create_token(session: Session, actor: User, label_user: User | None = None) -> str:
    """A new API token for the actor (shown once); only its hash is kept."""
    user = label_user or actor
    if user.role not in (Role.ADMIN, Role.MANAGER):
        raise AccountError("API tokens are for managers and admins")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, token_hash=hash_token(token), prefix=token[:10]))
    session.flush()
    audit.record(session, actor, "token.create", user.email, prefix=token[:10])
    return token


def revoke_token(session: Session, actor: User, token_id: int, now: datetime) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and actor.role != Role.ADMIN):
        raise AccountError("no such token of yours")
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record(session, actor, "token.revoke", row.user.email, prefix=row.prefix)
    return row


def pending_invites(session: Session, now: datetime) -> list[AccountLink]:
    return list(
        session.scalars(
            select(AccountLink)
            .where(
                AccountLink.kind == LinkKind.INVITE.value,
                AccountLink.used_at.is_(None),
                AccountLink.expires_at > now,
            )
            .order_by(AccountLink.id.desc())
        )
    )


def people(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.email)))
