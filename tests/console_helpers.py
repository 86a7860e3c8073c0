"""Helpers for console tests: accounts, signing in through the real form, CSRF tokens."""

from __future__ import annotations

import re

from textbank.accounts import create_user
from textbank.db import session_scope

PASSWORD = "a long and known password"


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html).group(1)


def make_user(sessions, email: str, role: str, password: str = PASSWORD) -> int:
    with session_scope(sessions) as session:
        return create_user(session, email, role, password).id


def sign_in(client, email: str, password: str = PASSWORD):
    page = client.get("/login")
    data = {"email": email, "password": password, "csrf_token": csrf(page.text)}
    return client.post("/login", data=data)


def post(client, path: str, data: dict | None = None, page: str | None = None, **kwargs):
    """A form POST carrying the CSRF token of the page it is posted from."""
    html = client.get(page or path).text
    return client.post(path, data={**(data or {}), "csrf_token": csrf(html)}, **kwargs)
