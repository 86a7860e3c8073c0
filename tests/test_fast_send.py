"""A volunteer's Send answered in front of Flask (consoles.fast_send): the same answer the
Flask view gives, the same checks, and every press it does not vouch for left to the view."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import select, update
from volunteer_helpers import csrf, launch_p2p, sign_in, volunteer

from textbank import create_app
from textbank.compliance.quiet_hours import SendWindow
from textbank.consoles.fast_send import FastSend
from textbank.db import session_scope
from textbank.enqueue import QueueName, queue
from textbank.models import Campaign, Member, OutboundMessage, User, utcnow
from textbank.web import database

HTMX = {"HX-Request": "true"}
TOKEN = re.compile(r'name="csrf_token" value="[^"]+"')


@pytest.fixture
def sessions(console):
    return console.extensions["textbank.sessions"]


@pytest.fixture
def view_calls(console) -> list[int]:
    """Each press the Flask view answered (the fast path's presses never reach it)."""
    calls: list[int] = []
    view = console.view_functions["volunteer.send"]

    def counted(**kwargs):
        calls.append(kwargs["campaign_id"])
        return view(**kwargs)

    console.view_functions["volunteer.send"] = counted
    return calls


@pytest.fixture
def shift(console, sessions):
    """A P2P campaign and a signed-in volunteer holding a batch: (client, campaign, token, row)."""
    from textbank.accounts import create_token

    volunteer(sessions, "manager@example.org", role="manager")
    with session_scope(sessions) as session:
        auth = {"Authorization": f"Bearer {create_token(session, 'manager@example.org')}"}
    campaign_id = launch_p2p(console.test_client(), sessions, auth)
    volunteer(sessions, "val@example.org")
    client = console.test_client()
    sign_in(client, "val@example.org")
    token = csrf(client.get("/volunteer").text)
    client.post(f"/volunteer/campaigns/{campaign_id}/batch", data={"csrf_token": token})
    page = client.get(f"/volunteer/campaigns/{campaign_id}").text
    return client, campaign_id, token, _row(page)


def _row(html: str) -> int:
    return int(re.search(r'name="row" value="(\d+)"', html).group(1))


def _press(client, campaign_id, data, headers=HTMX, **kwargs):
    return client.post(f"/volunteer/campaigns/{campaign_id}/send", data=data, headers=headers,
                       **kwargs)  # fmt: skip


def _status(sessions, row_id) -> str:
    with sessions() as session:
        return session.get(OutboundMessage, row_id).status


def _queued(redis_client) -> int:
    return queue(QueueName.SEND, redis_client).count


def _flask_only(monkeypatch) -> None:
    monkeypatch.setattr(FastSend, "_answer", lambda *args: None)


def _same_answer(fast, flask) -> None:
    """Byte for byte, but for the CSRF token (signed with the time) and the cookie's."""
    assert fast.status == flask.status
    assert TOKEN.sub("", fast.get_data(as_text=True)) == TOKEN.sub("", flask.get_data(as_text=True))
    assert len(TOKEN.findall(fast.text)) == len(TOKEN.findall(flask.text)) == 1
    plain = [(k, v) for k, v in fast.headers if k not in ("Set-Cookie", "Content-Length")]
    assert plain == [(k, v) for k, v in flask.headers if k not in ("Set-Cookie", "Content-Length")]

    def attributes(response) -> list[str]:
        (cookie,) = response.headers.getlist("Set-Cookie")
        return [part for part in cookie.split("; ")[1:] if not part.startswith("Expires=")]

    assert attributes(fast) == attributes(flask) and "HttpOnly" in attributes(fast)


def test_a_press_is_answered_before_flask_as_the_view_answers_it(
    console, sessions, shift, view_calls, redis_client, monkeypatch
):
    client, campaign_id, token, row = shift
    fast = _press(client, campaign_id, {"csrf_token": token, "row": row})
    assert view_calls == []
    assert "Sent. Here is the next member." in fast.text and _row(fast.text) != row
    assert _status(sessions, row) == "pending" and _queued(redis_client) == 1
    # The same press again from the same state, answered by the Flask view alone.
    with session_scope(sessions) as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == row)
                        .values(status="held"))  # fmt: skip
    _flask_only(monkeypatch)
    flask = _press(client, campaign_id, {"csrf_token": token, "row": row})
    assert view_calls == [campaign_id]
    _same_answer(fast, flask)


def test_the_token_in_the_answer_works_for_the_next_press(console, sessions, shift, view_calls):
    client, campaign_id, token, row = shift
    first = _press(client, campaign_id, {"csrf_token": token, "row": row})
    second = _press(client, campaign_id, {"csrf_token": csrf(first.text), "row": _row(first.text)})
    assert "Sent. Here is the next member." in second.text and view_calls == []
    assert "<span data-remaining>1</span> left" in second.text


def test_a_double_press_sends_once_and_answers_as_the_view_does(
    console, sessions, shift, view_calls, redis_client, monkeypatch
):
    client, campaign_id, token, row = shift
    _press(client, campaign_id, {"csrf_token": token, "row": row})
    again = _press(client, campaign_id, {"csrf_token": token, "row": row})
    assert again.status_code == 200 and "Sent." not in again.text
    assert view_calls == [] and _queued(redis_client) == 1
    with sessions() as session:
        pending = session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.status == "pending")).all()  # fmt: skip
    assert pending == [row]
    _flask_only(monkeypatch)
    _same_answer(again, _press(client, campaign_id, {"csrf_token": token, "row": row}))


def test_the_last_press_shows_the_batch_done(console, sessions, shift, view_calls):
    client, campaign_id, token, row = shift
    for _ in range(3):
        answer = _press(client, campaign_id, {"csrf_token": token, "row": row})
        row = _row(answer.text) if 'name="row"' in answer.text else None
    assert "Your batch is done" in answer.text and view_calls == []
    assert f'action="/volunteer/campaigns/{campaign_id}/batch"' in answer.text


def test_an_opted_out_member_is_never_texted(console, sessions, shift, view_calls, redis_client):
    from textbank.compliance.optouts import opt_out
    from textbank.models import OptOutSource

    client, campaign_id, token, row = shift
    with session_scope(sessions) as session:
        member = session.scalar(select(Member).join(
            OutboundMessage, OutboundMessage.member_id == Member.id).where(
            OutboundMessage.id == row))  # fmt: skip
        opt_out(session, member.phone, OptOutSource.SMS_KEYWORD, utcnow())
    answer = _press(client, campaign_id, {"csrf_token": token, "row": row})
    assert "opted out, so no text was sent" in answer.text and view_calls == []
    assert _status(sessions, row) == "skipped" and _queued(redis_client) == 0


def test_a_paused_campaign_sends_nothing(console, sessions, shift, view_calls, redis_client):
    client, campaign_id, token, row = shift
    with session_scope(sessions) as session:
        session.get(Campaign, campaign_id).status = "paused"
    answer = _press(client, campaign_id, {"csrf_token": token, "row": row})
    assert "This campaign is paused" in answer.text
    assert _status(sessions, row) == "held" and _queued(redis_client) == 0


def test_outside_the_members_hours_nothing_is_sent(settings, sessions, shift, redis_client):
    _client, campaign_id, _token, _ = shift
    night = create_app(replace(settings, send_window=SendWindow(0, 1)))
    night.config.update(TESTING=True)
    try:
        client = night.test_client()
        sign_in(client, "val@example.org")
        page = client.get(f"/volunteer/campaigns/{campaign_id}")
        row = _row(page.text)
        answer = _press(client, campaign_id, {"csrf_token": csrf(page.text), "row": row})
        assert "cannot be texted yet" in answer.text
        assert _status(sessions, row) == "held" and _queued(redis_client) == 0
    finally:
        database.dispose(night)


@pytest.mark.parametrize("token", ["", "forged", "from-another-session"])
def test_a_forged_or_missing_token_is_refused(console, sessions, shift, view_calls, token,
                                              redis_client):  # fmt: skip
    client, campaign_id, real, row = shift
    if token == "from-another-session":
        volunteer(sessions, "other@example.org")
        other = console.test_client()
        sign_in(other, "other@example.org")
        token = csrf(other.get("/volunteer").text)
    elif token == "forged":
        token = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    data = {"csrf_token": token, "row": row} if token else {"row": row}
    answer = _press(client, campaign_id, data)
    assert answer.status_code == 400 and "Form expired" in answer.text
    assert view_calls == [] and _status(sessions, row) == "held"  # CSRFProtect refused it
    assert _queued(redis_client) == 0


def test_an_expired_token_is_refused(console, sessions, shift):
    client, campaign_id, token, row = shift
    console.config["WTF_CSRF_TIME_LIMIT"] = -1  # every token is past its time
    answer = _press(client, campaign_id, {"csrf_token": token, "row": row})
    assert answer.status_code == 400 and _status(sessions, row) == "held"


def test_signed_out_deactivated_and_ended_sessions_are_refused(console, sessions, shift):
    from textbank.accounts import end_sessions

    client, campaign_id, token, row = shift
    anonymous = console.test_client()
    answer = _press(anonymous, campaign_id, {"csrf_token": token, "row": row})
    assert answer.status_code in (400, 302)  # no session: no token either
    with session_scope(sessions) as session:
        user = session.scalar(select(User).where(User.email == "val@example.org"))
        user.active = False
    answer = _press(client, campaign_id, {"csrf_token": token, "row": row})
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    with session_scope(sessions) as session:
        user = session.scalar(select(User).where(User.email == "val@example.org"))
        user.active = True
        end_sessions(session, user)  # signed out everywhere
    answer = _press(client, campaign_id, {"csrf_token": token, "row": row})
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert _status(sessions, row) == "held"


def test_another_volunteers_member_is_refused(console, sessions, shift, view_calls):
    _client, campaign_id, _token, row = shift
    volunteer(sessions, "b@example.org")
    b = console.test_client()
    sign_in(b, "b@example.org")
    answer = _press(b, campaign_id, {"csrf_token": csrf(b.get("/volunteer").text), "row": row})
    assert answer.status_code == 404 and view_calls == [campaign_id]
    assert _status(sessions, row) == "held"


def test_a_row_posted_to_another_campaigns_address_is_refused(console, sessions, shift):
    client, campaign_id, token, row = shift
    answer = _press(client, campaign_id + 1, {"csrf_token": token, "row": row})
    assert answer.status_code == 404 and _status(sessions, row) == "held"


@pytest.mark.parametrize("case", ["plain form", "query", "extra field", "repeated field",
                                  "bad row", "no row", "nul", "json"])  # fmt: skip
def test_anything_unusual_goes_to_the_flask_view(console, sessions, shift, view_calls, case):
    client, campaign_id, token, row = shift
    path = f"/volunteer/campaigns/{campaign_id}/send"
    data: object = {"csrf_token": token, "row": row}
    headers, kwargs = dict(HTMX), {}
    if case == "plain form":
        headers = {}
    elif case == "query":
        path += "?x=1"
    elif case == "extra field":
        data = {"csrf_token": token, "row": row, "note": "hi"}
    elif case == "repeated field":
        data = f"csrf_token={token}&row={row}&row={row}"
        kwargs = {"content_type": "application/x-www-form-urlencoded"}
    elif case == "bad row":
        data = {"csrf_token": token, "row": "abc"}
    elif case == "no row":
        data = {"csrf_token": token}
    elif case == "nul":
        data = {"csrf_token": token, "row": f"{row}\x00"}
    else:
        data, kwargs = None, {"json": {"csrf_token": token, "row": row}}
    answer = client.post(path, data=data, headers=headers, **kwargs)
    assert view_calls == [campaign_id] or answer.status_code == 400
    if case == "plain form":
        assert answer.status_code == 302 and _status(sessions, row) == "pending"
    elif case in ("query", "extra field", "repeated field"):
        assert answer.status_code == 200 and _status(sessions, row) == "pending"
    else:
        assert answer.status_code == 400 and _status(sessions, row) == "held"


def test_a_press_is_three_statements_before_flask(console, sessions, shift, view_calls,
                                                  monkeypatch):  # fmt: skip
    """The pressed row with its holder's account, its release and the next card, in one
    transaction (the view reads the account on its own first: four)."""
    from sqlalchemy import event

    client, campaign_id, token, row = shift
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            statements.append(statement)

    engine = console.extensions["textbank.engine"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = _press(client, campaign_id, {"csrf_token": token, "row": row})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert "Sent." in answer.text and view_calls == []
    assert len(statements) == 3, statements
    statements.clear()
    monkeypatch.setattr(FastSend, "_answer", lambda *args: None)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = _press(client, campaign_id, {"csrf_token": token, "row": _row(answer.text)})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert "Sent." in answer.text and view_calls == [campaign_id]
    assert len(statements) == 4, statements
