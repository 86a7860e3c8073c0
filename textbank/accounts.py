"""Users and API tokens: create, authenticate, revoke."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from textbank.models import ApiToken, Role, User, utcnow

TOKEN_PREFIX = "tb_"  # noqa: S105 - a label, not a secret


class AccountError(ValueError):
    """A user or token operation that cannot be done; the message says why."""


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    text = email.strip().lower()
    if "@" not in text or len(text) > 254:
        raise AccountError(f"not an email address: {email!r}")
    return text


def create_user(session: Session, email: str, role: str, password: str) -> User:
    """Add a user with a hashed password; refuse duplicates and unknown roles."""
    email = normalize_email(email)
    try:
        role = Role(role).value
    except ValueError as exc:
        raise AccountError(f"unknown role {role!r}: use admin, manager or volunteer") from exc
    if len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    if session.scalar(select(User.id).where(User.email == email)):
        raise AccountError(f"a user with email {email} already exists")
    user = User(email=email, role=role, password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def check_password(user: User | None, password: str) -> bool:
    """True when the password matches an active user's hash."""
    return bool(user and user.active and check_password_hash(user.password_hash, password))


def create_token(session: Session, email: str) -> str:
    """Issue a new API token for a user and return it; only its hash is kept."""
    user = find_user(session, email)
    if user is None:
        raise AccountError(f"no user with email {email.strip().lower()}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, token_hash=hash_token(token), prefix=token[:10]))
    session.flush()
    return token


def authenticate_token(session: Session, token: str) -> User | None:
    """The active user behind a token that is not revoked, or None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    now = utcnow()
    # Record use at most once a minute, so reads do not turn into writes on every call.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
    return row.user


def revoke_tokens(session: Session, email: str) -> int:
    """Revoke every live token of a user; return how many."""
    user = find_user(session, email)
    if user is None:
        raise AccountError(f"no user with email {email.strip().lower()}")
    count = 0
    for row in user.tokens:
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            count += 1
    return count


def set_password(session: Session, user: User, password: str) -> None:
    """Replace a user's password and end every session they had."""
    if len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    user.password_hash = generate_password_hash(password)
    end_sessions(session, user)


def end_sessions(session: Session, user: User) -> None:
    """Sign the user out everywhere: sessions begun before now stop working."""
    user.sessions_valid_after = utcnow()
    session.flush()
