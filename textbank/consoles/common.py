"""What the console views share: who is asking, their Redis presence, htmx-or-page answers."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import redis
from flask import request

from textbank.conversations import live
from textbank.models import Role, User, utcnow
from textbank.web import redis_ext
from textbank.web.auth import current_user

log = logging.getLogger(__name__)
EVERYONE = (Role.ADMIN, Role.MANAGER, Role.VOLUNTEER)
LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "zh": "Chinese", "vi": "Vietnamese",
                  "pt": "Portuguese", "fr": "French", "ht": "Haitian Creole", "ko": "Korean",
                  "tl": "Tagalog", "ru": "Russian", "ar": "Arabic"}  # fmt: skip


def me() -> User:
    user = current_user()
    assert user is not None  # behind login_required
    return user


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def mark_seen(user: User) -> None:
    """Any console request is a sign of life (the supervisor's 'online now')."""
    try:
        live.seen(redis_ext.client(), user.id, utcnow())
    except redis.RedisError as exc:  # presence is a nicety: the page works without it
        log.warning("user %s: presence not recorded (%s)", user.id, exc)


def language_name(code: str | None) -> str:
    return LANGUAGE_NAMES.get(code or "", code or "unknown")


def when(opens_at: datetime | None, now: datetime | None = None) -> str:
    """'at 8:00 AM their time (in 3 h 10 min)' for a member outside their hours."""
    if opens_at is None:
        return ""
    now = now or utcnow()
    minutes = max(1, int((opens_at - now).total_seconds() // 60))
    span = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    return f"in {span} (at {opens_at.astimezone(ZoneInfo('UTC')):%H:%M} UTC)"
