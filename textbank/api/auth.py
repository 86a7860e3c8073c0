"""Bearer-token checks for the API: who is calling, and may they?"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from textbank.accounts import authenticate_token
from textbank.api import ApiError
from textbank.models import Role
from textbank.web.database import db

MANAGERS = (Role.ADMIN, Role.MANAGER)


def require_role(*roles: Role) -> Callable:
    """Decorate a view: 401 without a valid token, 403 when the user's role is not allowed."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError("missing bearer token: send Authorization: Bearer TOKEN", 401)
            user = authenticate_token(db(), token.strip())
            if user is None:
                raise ApiError("invalid or revoked token", 401)
            db().commit()  # keeps last_used_at
            if user.role not in roles:
                raise ApiError(f"a {user.role} may not do this", 403)
            g.user = user
            return view(*args, **kwargs)

        return wrapped

    return decorator
