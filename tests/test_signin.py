"""Sign-in: failed tries throttled per account and per address; ended sessions stay ended."""

from __future__ import annotations

import re

import pytest
from console_helpers import PASSWORD, make_user, post, sign_in

from textbank import signin_throttle
from textbank.accounts import find_user
from textbank.db import session_scope


def _error(page) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]+)</p>', page.text)
    return found.group(1) if found else ""


def _from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_five_wrong_passwords_lock_the_account_with_the_same_answer_as_an_unknown_email(
    app, sessions
):
    make_user(sessions, "real@example.org", "manager")
    for email in ("real@example.org", "nobody@example.org"):
        guesser = _from(app, "10.0.0.1")
        for _ in range(signin_throttle.PER_ACCOUNT):
            assert sign_in(guesser, email, "wrong guess!").status_code == 401
        refused = sign_in(guesser, email, "wrong guess!")
        assert refused.status_code == 429
        assert _error(refused) == "Too many attempts; try again in 15 minutes."
        assert 800 < int(refused.headers["Retry-After"]) <= 900
    # The right password does not get through either (it would tell the guesser it is right),
    # from another address too: the account itself is locked.
    late = sign_in(_from(app, "10.0.0.2"), "real@example.org", PASSWORD)
    assert late.status_code == 429
    assert _error(late) == "Too many attempts; try again in 15 minutes."
    # Other accounts from other addresses are not affected.
    make_user(sessions, "colleague@example.org", "manager")
    assert sign_in(_from(app, "10.0.0.3"), "colleague@example.org").status_code == 302


def test_twenty_failures_from_one_address_stop_it_trying_other_accounts(app, sessions):
    make_user(sessions, "target@example.org", "manager")
    sprayer = _from(app, "10.9.9.9")
    for i in range(signin_throttle.PER_ADDRESS):
        assert sign_in(sprayer, f"user{i}@example.org", "Spring2026!").status_code == 401
    refused = sign_in(sprayer, "target@example.org", PASSWORD)
    assert refused.status_code == 429 and "Too many attempts" in _error(refused)
    # The account's owner, elsewhere, signs in as usual.
    assert sign_in(_from(app, "10.0.0.7"), "target@example.org").status_code == 302


def test_failures_age_out_one_at_a_time_and_a_success_clears_the_account(redis_client):
    email, address, start = "a@example.org", "10.1.1.1", 1_000_000.0
    for i in range(signin_throttle.PER_ACCOUNT):
        signin_throttle.record_failure(redis_client, email, address, now=start + 60 * i)
    at = start + 4 * 60 + 1
    assert signin_throttle.wait_seconds(redis_client, email, address, now=at) == 15 * 60 - 241
    # Once the first failure is 15 minutes old one more try is allowed, and only one.
    later = start + signin_throttle.WINDOW + 1
    assert signin_throttle.wait_seconds(redis_client, email, address, now=later) == 0
    signin_throttle.record_failure(redis_client, email, address, now=later)
    assert signin_throttle.wait_seconds(redis_client, email, address, now=later) == 59
    signin_throttle.record_success(redis_client, email, address)
    assert signin_throttle.wait_seconds(redis_client, email, address, now=later) == 0
    assert signin_throttle.message(59) == "Too many attempts; try again in 1 minute."


# -- ended sessions: a copied cookie must stop working ---------------------------------


@pytest.fixture
def victim(app, sessions):
    """A signed-in manager and a second browser holding a copy of their session cookie."""
    make_user(sessions, "victim@example.org", "manager")
    own = app.test_client()
    assert sign_in(own, "victim@example.org").status_code == 302
    copy = app.test_client()
    copy.set_cookie("session", own.get_cookie("session").value, domain="localhost")
    assert copy.get("/members").status_code == 200
    return own, copy


def _signed_out(client) -> bool:
    page = client.get("/members")
    return page.status_code == 302 and page.location.startswith("/login")


def test_logging_out_ends_a_copied_cookie(victim):
    own, copy = victim
    assert post(own, "/logout", page="/members").status_code == 302
    assert _signed_out(own) and _signed_out(copy)


def test_changing_the_password_ends_a_copied_cookie(victim, runner):
    _, copy = victim
    changed = runner.invoke(args=["users", "reset-password", "victim@example.org"])
    assert changed.exit_code == 0, changed.output
    assert _signed_out(copy)


def _admin(app, sessions):
    admin = app.test_client()
    make_user(sessions, "admin@example.org", "admin")
    assert sign_in(admin, "admin@example.org").status_code == 302
    return admin


def test_resetting_the_password_ends_a_copied_cookie(victim, app, sessions):
    _, copy = victim
    with session_scope(sessions) as session:
        victim_id = find_user(session, "victim@example.org").id
    reset = post(_admin(app, sessions), f"/people/{victim_id}/reset", page="/people")
    assert reset.status_code == 200
    assert _signed_out(copy)


def test_disabling_the_user_ends_a_copied_cookie(victim, app, sessions):
    _, copy = victim
    with session_scope(sessions) as session:
        victim_id = find_user(session, "victim@example.org").id
    off = post(_admin(app, sessions), f"/people/{victim_id}/active", {"active": "no"},
               page="/people")  # fmt: skip
    assert off.status_code == 302
    assert _signed_out(copy)
