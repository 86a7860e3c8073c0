"""People in the browser: invites that create accounts, roles, disabling, resets, tokens, audit."""

import re

import pytest
from console_helpers import PASSWORD, csrf, make_user, post, sign_in
from sqlalchemy import select

from textbank.db import session_scope
from textbank.models import AuditEvent, User


@pytest.fixture
def manager(client, sessions):
    make_user(sessions, "boss@example.org", "manager")
    assert sign_in(client, "boss@example.org").status_code == 302
    return "boss@example.org"


def _link(html: str) -> str:
    return re.search(r'id="one-time-link">http://localhost(/[^<]+)<', html).group(1)


def _audit(sessions) -> list[tuple[str, str, str]]:
    with session_scope(sessions) as session:
        return [(e.actor, e.action, e.subject) for e in session.scalars(
            select(AuditEvent).order_by(AuditEvent.id))]  # fmt: skip


def test_an_invite_link_creates_the_account_once(client, sessions, manager, app):
    page = post(client, "/people/invite", {"email": "Vol@Example.org", "role": "volunteer"},
                page="/people")  # fmt: skip
    assert page.status_code == 201
    link = _link(page.text)
    assert "vol@example.org" in page.text

    guest = app.test_client()
    form = guest.get(link)
    assert form.status_code == 200 and "volunteer" in form.text
    mismatch = guest.post(link, data={"password": "abcdefgh1", "password2": "abcdefgh2",
                                      "csrf_token": csrf(form.text)})  # fmt: skip
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    done = guest.post(link, data={"password": "abcdefgh1", "password2": "abcdefgh1",
                                  "csrf_token": csrf(form.text)})  # fmt: skip
    # Signed in, a new volunteer lands in the volunteer console.
    assert done.status_code == 302 and done.location == "/volunteer"
    assert "Text-bank shift" in guest.get(done.location).text
    with session_scope(sessions) as session:
        user = session.scalar(select(User).where(User.email == "vol@example.org"))
        assert user.role == "volunteer"
    again = app.test_client().get(link)
    assert again.status_code == 404 and "used already" in again.text
    assert ("boss@example.org", "user.invite", "vol@example.org") in _audit(sessions)
    assert ("vol@example.org", "user.join", "vol@example.org") in _audit(sessions)


def test_a_manager_cannot_invite_an_admin_nor_an_existing_user(client, manager):
    admin = post(client, "/people/invite", {"email": "x@example.org", "role": "admin"},
                 page="/people")  # fmt: skip
    assert admin.status_code == 400 and "only an admin" in admin.text
    dup = post(client, "/people/invite", {"email": "boss@example.org", "role": "manager"},
               page="/people")  # fmt: skip
    assert dup.status_code == 400 and "already has an account" in dup.text
    bad = post(client, "/people/invite", {"email": "nope", "role": "manager"}, page="/people")
    assert bad.status_code == 400 and "not an email address" in bad.text


def test_role_change_disable_and_reset_end_the_others_sessions(client, sessions, manager, app):
    other_id = make_user(sessions, "other@example.org", "manager")
    other = app.test_client()
    assert sign_in(other, "other@example.org").status_code == 302
    assert other.get("/members").status_code == 200

    reset = post(client, f"/people/{other_id}/reset", page="/people")
    assert reset.status_code == 200
    assert other.get("/members").status_code == 302  # signed out by the reset
    assert sign_in(other, "other@example.org").status_code == 302  # old password still set...
    link = _link(reset.text)
    guest = app.test_client()
    form = guest.get(link)
    new = "a brand new password"
    assert guest.post(link, data={"password": new, "password2": new,
                                  "csrf_token": csrf(form.text)}).status_code == 302  # fmt: skip
    assert other.get("/members").status_code == 302  # ...until the new one ended it
    assert sign_in(app.test_client(), "other@example.org").status_code == 401
    assert sign_in(app.test_client(), "other@example.org", new).status_code == 302

    role = post(client, f"/people/{other_id}/role", {"role": "volunteer"}, page="/people")
    assert role.status_code == 302
    off = post(client, f"/people/{other_id}/active", {"active": "no"}, page="/people")
    assert off.status_code == 302
    assert sign_in(app.test_client(), "other@example.org", new).status_code == 401
    mine = post(client, "/people/1/active", {"active": "no"}, page="/people")
    assert mine.status_code == 400 and "your own account" in mine.text
    actions = [a for _, a, s in _audit(sessions) if s == "other@example.org"]
    assert actions == ["user.reset_password", "user.role", "user.disable"]


def test_api_tokens_are_shown_once_work_and_can_be_revoked(client, sessions, manager):
    page = post(client, "/account/tokens", {"create": "1"})
    token = re.search(r'id="new-token">([^<]+)<', page.text).group(1)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/members", headers=auth).status_code == 200
    listing = client.get("/account/tokens").text
    assert token not in listing and token[:10] in listing
    token_id = re.search(r'name="revoke" value="(\d+)"', listing).group(1)
    assert post(client, "/account/tokens", {"revoke": token_id}).status_code == 302
    assert client.get("/api/v1/members", headers=auth).status_code == 401
    assert [a for _, a, _ in _audit(sessions)] == ["token.create", "token.revoke"]


def test_reset_password_command(runner, sessions):
    make_user(sessions, "lost@example.org", "manager")
    result = runner.invoke(args=["users", "reset-password", "lost@example.org"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].removeprefix("password: ")
    assert len(password) >= 12
    from textbank.accounts import check_password, find_user

    with session_scope(sessions) as session:
        user = find_user(session, "lost@example.org")
        assert check_password(user, password) and not check_password(user, PASSWORD)
    missing = runner.invoke(args=["users", "reset-password", "nobody@example.org"])
    assert missing.exit_code != 0 and "no user" in missing.output
    given = runner.invoke(args=["users", "reset-password", "lost@example.org", "--password-stdin"],
                          input="short\n")  # fmt: skip
    assert given.exit_code != 0 and "at least 8" in given.output


def test_audit_log_records_api_launch_and_pause(client, sessions, manager, auth):
    from blast_helpers import seed

    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    campaign = {"name": "GOTV", "kind": "gotv", "message": "Hi {first_name}",
                "audience": {"locals": ["1199"]}}  # fmt: skip
    cid = client.post("/api/v1/campaigns", json=campaign, headers=auth).get_json()["id"]
    assert client.post(f"/api/v1/campaigns/{cid}/launch", headers=auth).status_code == 202
    client.post(f"/api/v1/campaigns/{cid}/pause", headers=auth)
    page = client.get("/audit").text
    assert 'data-action="campaign.launch"' in page and 'data-action="campaign.pause"' in page
    assert "<td>manager@example.org</td>" in page
    filtered = client.get("/audit?action=campaign.pause").text
    assert 'data-action="campaign.pause"' in filtered
    assert 'data-action="campaign.launch"' not in filtered


def test_volunteers_are_refused_every_console_page(client, sessions):
    make_user(sessions, "v@example.org", "volunteer")
    sign_in(client, "v@example.org")
    for path in ("/people", "/members", "/opt-outs", "/audit", "/locals", "/members/import",
                 "/account/tokens", "/settings/replies"):  # fmt: skip
        assert client.get(path).status_code in (302, 403), path


def test_a_sign_in_link_texted_to_a_volunteers_phone(live, redis_client):
    from datetime import timedelta

    from textbank.compliance.optouts import import_suppression_list
    from textbank.models import AccountLink, utcnow

    client, sessions = live.client, live.sessions
    make_user(sessions, "boss@example.org", "manager")
    sign_in(client, "boss@example.org")
    with session_scope(sessions) as session:
        import_suppression_list(session, [(1, "617-555-0199")], utcnow(), None)
    invite = {"role": "volunteer"}
    refused = post(client, "/people/invite",
                   {**invite, "email": "out@example.org", "phone": "(617) 555-0199"},
                   page="/people")  # fmt: skip
    assert refused.status_code == 400 and "opted out of our texts" in refused.text
    bad = post(client, "/people/invite", {"email": "bad@example.org", "role": "volunteer",
                                          "phone": "555-12"}, page="/people")  # fmt: skip
    assert bad.status_code == 400 and "phone" in bad.text

    done = post(client, "/people/invite", {"email": "Vol@Example.org", "role": "volunteer",
                                           "phone": "617 555 0142"}, page="/people",
                follow_redirects=True)  # fmt: skip
    assert "Texted a sign-in link to +16175550142" in done.text
    texts = [m for m in live.sandbox.state.all_messages() if m.direction == "outbound-api"]
    assert [m.to for m in texts] == ["+16175550142"]  # the opted-out phone never got one
    link = re.search(r"http://[^/\s]+(/signin/\S+)", texts[0].body).group(1)

    guest = live.app.test_client()
    assert guest.get(link).status_code == 200  # a phone's link preview spends nothing
    page = guest.get(link)
    assert "Welcome: choose your password" in page.text and "vol@example.org" in page.text
    signed = guest.post(link, data={"password": "abcdefgh1", "password2": "abcdefgh1",
                                    "csrf_token": csrf(page.text)})  # fmt: skip
    assert signed.status_code == 302 and guest.get("/volunteer").status_code == 200
    again = live.app.test_client().get(link)
    assert again.status_code == 404 and "used already" in again.text
    assert sign_in(live.app.test_client(), "vol@example.org", "abcdefgh1").status_code == 302
    with session_scope(sessions) as session:
        vol = session.scalar(select(User).where(User.email == "vol@example.org"))
        assert (vol.role, vol.phone) == ("volunteer", "+16175550142")
        assert session.scalar(select(User).where(User.email == "out@example.org")) is None

    # A texted link lasts 30 minutes.
    post(client, "/people/invite", {"email": "late@example.org", "role": "volunteer",
                                    "phone": "617-555-0143"}, page="/people")  # fmt: skip
    late = next(m for m in live.sandbox.state.all_messages() if m.to == "+16175550143")
    with session_scope(sessions) as session:
        newest = session.scalar(select(AccountLink).order_by(AccountLink.id.desc()))
        newest.expires_at = utcnow() - timedelta(seconds=1)
    expired = live.app.test_client().get(re.search(r"(/signin/\S+)", late.body).group(1))
    assert expired.status_code == 404 and "expired" in expired.text
